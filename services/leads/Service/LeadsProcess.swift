import CRMStore
import Logging
import Prometheus
import ServiceRuntime

/// Settings of crm-leads beyond the suite's common flags.
public struct LeadsConfiguration: Sendable {
    /// How long a copy of the user directory (crm-gateway ListUsers) is trusted before re-reading.
    public var directoryCacheTTL: Duration

    public init(directoryCacheTTL: Duration = .seconds(5)) {
        self.directoryCacheTTL = directoryCacheTTL
    }
}

/// The crm-leads process: its store, `crm.leads.v1.LeadService`, the `crm.events.v1.EventSink` it
/// consumes DEAL_WON / TICKET_CLOSED through, health, and the background jobs — outbox delivery, the
/// R2 warning/reclaim sweep, and repurchase hand-over.
public enum LeadsProcess {
    public static func run(options: ResolvedOptions, registry: PrometheusCollectorRegistry?,
                           configuration: LeadsConfiguration = LeadsConfiguration()) async throws {
        var logger = Logger(label: "crm-leads")
        logger.logLevel = Logger.Level(rawValue: options.logLevel) ?? .info
        let store = try Store(path: options.databasePath, migrations: LeadsSchema.migrations)
        let peers = Peers(options: options)
        let clock = options.clock
        let directory = UserDirectory(peers: peers, ttl: configuration.directoryCacheTTL, logger: logger)
        let relay = OutboxRelay(store: store, peers: peers, producer: LeadEvents.producer,
                                destinations: LeadEvents.destinations, logger: logger)
        let handler = LeadHandler(store: store, clock: clock, directory: directory, peers: peers, relay: relay,
                                  logger: logger)
        let sink = EventSinkService(store: store, clock: clock) { db, event in
            try LeadEventConsumer.apply(db, event)
        }
        let host = try ServiceHost(options: options, services: [handler, sink])
        let repurchase = RepurchaseIntake(handler: handler)
        try await host.run(registry: registry, background: [
            { await relay.run() },
            { await BackgroundSweeps.run(handler: handler, repurchase: repurchase) },
        ])
        await peers.close()
    }
}

/// The periodic jobs: the R2 sweep every `sweep_interval_ms` (re-read each round, so a settings
/// change applies without a restart) and the repurchase hand-over. Sweeps are also callable on demand
/// through RunSweep; the sweep itself is idempotent, so the two never conflict.
enum BackgroundSweeps {
    static func run(handler: LeadHandler, repurchase: RepurchaseIntake) async {
        var lastSweep: ContinuousClock.Instant?
        while !Task.isCancelled {
            let interval = (try? await handler.store.read { db in try LeadSettingsValues.load(db).sweepIntervalMs })
                ?? LeadSettingsValues.defaults.sweepIntervalMs
            if lastSweep == nil || ContinuousClock.now - lastSweep! >= .milliseconds(interval) {
                lastSweep = ContinuousClock.now
                do {
                    let outcome = try await handler.sweep()
                    if !outcome.warned.isEmpty || !outcome.reclaimed.isEmpty {
                        handler.logger.info("R2 sweep", metadata: [
                            "warned": "\(outcome.warned.count)", "reclaimed": "\(outcome.reclaimed.count)",
                        ])
                    }
                } catch {
                    handler.logger.error("R2 sweep failed", metadata: ["error": "\(error)"])
                }
            }
            await repurchase.runPending()
            try? await Task.sleep(for: .seconds(1))
        }
    }
}
