import CRMStore
import Foundation
import Logging
import Prometheus
import RPCCore
import ServiceRuntime

/// The crm-customers process: its store, `crm.customers.v1.CustomerService`, the `crm.events.v1.EventSink`
/// it consumes events on, health, the outbox relay and the periodic churn sweep.
public enum CustomersProcess {
    public static func run(options: ResolvedOptions, registry: PrometheusCollectorRegistry?) async throws {
        var configuredLogger = Logger(label: "crm-customers")
        configuredLogger.logLevel = Logger.Level(rawValue: options.logLevel) ?? .info
        let logger = configuredLogger
        let store = try Store(path: options.databasePath, migrations: CustomersSchema.migrations)
        let clock = options.clock
        let peers = Peers(options: options)
        let relay = OutboxRelay(store: store, peers: peers, producer: OutboundEvents.producer,
                          destinations: OutboundEvents.destinations, logger: logger)
        let handler = CustomerHandler(store: store, clock: clock, directory: UserDirectory(peers: peers, logger: logger),
                                      wakeRelay: { relay.wake() }, logger: logger)
        let sink = EventSinkService(store: store, clock: clock) { db, event in
            try InboundEvents.apply(db, event, nowMs: clock.nowMs())
        }
        let host = try ServiceHost(options: options, services: [handler, sink])
        try await host.run(registry: registry, background: [
            { await relay.run() },
            { await SweepLoop(store: store, clock: clock, logger: logger).run() },
        ])
        await peers.close()
    }
}

/// Runs the churn sweep in the background every `sweep_interval_ms` (re-read each round, so a settings
/// change takes effect without a restart). "Now" is the injected clock; only the pause is real time.
struct SweepLoop: Sendable {
    let store: Store
    let clock: any WallClock
    let logger: Logger

    func run() async {
        while !Task.isCancelled {
            var interval = SettingsDefaults.sweepIntervalMs
            do {
                let now = clock.nowMs()
                let swept = try await ChurnSweep.sweep(nowMs: now, dryRun: false) { try await store.write($0) }
                interval = try await store.read { db in try SettingsStore.load(db).sweepIntervalMs }
                if !swept.flagged.isEmpty || !swept.cleared.isEmpty {
                    logger.info("churn sweep", metadata: ["flagged": "\(swept.flagged.count)", "cleared": "\(swept.cleared.count)"])
                }
            } catch {
                logger.error("churn sweep failed", metadata: ["error": "\(error)"])
            }
            try? await Task.sleep(for: .milliseconds(max(interval, 1000)))
        }
    }
}
