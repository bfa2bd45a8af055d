import CRMProto
import CRMStore
import Logging
import Prometheus
import ServiceRuntime

/// The crm-opportunities process: its store, the OpportunityService and the EventSink it consumes
/// events on (plus health, added by the host), the outbox relay delivering its events, and the
/// periodic R8 sweep.
public enum OpportunitiesProcess {
    public static func run(options: ResolvedOptions, registry: PrometheusCollectorRegistry?) async throws {
        let logger = {
            var logger = Logger(label: "crm-opportunities")
            logger.logLevel = Logger.Level(rawValue: options.logLevel) ?? .info
            return logger
        }()
        let store = try Store(path: options.databasePath, migrations: OpportunitiesSchema.migrations)
        let clock = options.clock
        let peers = Peers(options: options)
        let relay = OutboxRelay(store: store, peers: peers, producer: EventRoutes.producer,
                                destinations: EventRoutes.destinations, logger: logger)
        let service = OpportunityService(store: store, clock: clock, directory: Directory(peers: peers, logger: logger),
                                         relay: relay)
        let sink = EventSinkService(store: store, clock: clock) { db, event in
            try EventConsumer.apply(db, event, now: clock.nowMs())
        }
        let host = try ServiceHost(options: options, services: [service, sink])
        try await host.run(registry: registry, background: [
            { await relay.run() },
            { await sweepForever(store: store, clock: clock, logger: logger) },
        ])
        await peers.close()
    }

    /// Runs the R8 sweep every `sweep_interval_ms` (read each round, so a settings change takes effect
    /// without a restart) until the host shuts down.
    static func sweepForever(store: Store, clock: any WallClock, logger: Logger) async {
        while !Task.isCancelled {
            var interval = SettingsStore.defaults.sweepIntervalMs
            do {
                interval = try await store.read { db in try SettingsStore.load(db) }.sweepIntervalMs
                let result = try await RiskSweep(store: store).run(now: clock.nowMs(), dryRun: false)
                if !result.raisedOpportunityIds.isEmpty || !result.clearedOpportunityIds.isEmpty {
                    logger.info("risk sweep", metadata: ["evaluated": "\(result.evaluated)",
                                                        "raised": "\(result.raisedOpportunityIds.count)",
                                                        "cleared": "\(result.clearedOpportunityIds.count)"])
                }
            } catch is CancellationError {
                return
            } catch {
                logger.error("risk sweep failed", metadata: ["error": "\(error)"])
            }
            try? await Task.sleep(for: .milliseconds(max(1000, interval)))
        }
    }
}
