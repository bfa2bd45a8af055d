import CRMStore
import Foundation
import Logging
import Prometheus
import ServiceRuntime

/// Wiring of the crm-forecast process: its store and in-memory deal book, the forecast service and
/// the event sink on one port (plus health), and the background jobs — the fact feed from
/// crm-opportunities and the forecast schedule.
public enum ForecastProcess {
    /// How often (real time) the schedule looks at the injected clock for due work.
    static let scheduleTick: Duration = .seconds(5)
    /// How often (real time) the incremental export feed is pulled.
    static let syncInterval: Duration = .seconds(60)

    public static func run(options: ResolvedOptions, registry: PrometheusCollectorRegistry?) async throws {
        var configuredLogger = Logger(label: "crm-forecast")
        configuredLogger.logLevel = Logger.Level(rawValue: options.logLevel) ?? .info
        let logger = configuredLogger
        let store = try Store(path: options.databasePath, migrations: ForecastSchema.migrations)
        let book = DealBook()
        try await store.read { db in try book.load(db) }
        logger.info("deal book loaded", metadata: ["deals": "\(book.count)"])

        let clock = options.clock
        let peers = Peers(options: options)
        let sync = OpportunitySync(store: store, book: book, peers: peers, clock: clock, logger: logger)
        let trainer = ModelTrainer(store: store, book: book, clock: clock, logger: logger)
        let scheduler = ForecastScheduler(store: store, book: book, clock: clock, trainer: trainer, logger: logger)
        let service = ForecastServiceHandler(store: store, book: book, clock: clock, peers: peers, sync: sync,
                                             trainer: trainer, scheduler: scheduler, logger: logger)
        let sink = FactEventSink(store: store, book: book, clock: clock, logger: logger)
        let host = try ServiceHost(options: options, services: [service, sink])
        try await host.run(registry: registry, background: [
            { await feed(sync, logger: logger) },
            periodically(every: scheduleTick, logger: logger, "forecast schedule") { try await scheduler.runDueWork() },
        ])
        await peers.close()
    }

    /// A full pass of the export feed once crm-opportunities answers, then incremental pulls.
    static func feed(_ sync: OpportunitySync, logger: Logger) async {
        var fullDone = false
        while !Task.isCancelled {
            do {
                try await sync.run(full: !fullDone)
                fullDone = true
            } catch is CancellationError {
                return
            } catch {
                logger.notice("crm-opportunities export feed not available; will retry", metadata: ["error": "\(error)"])
            }
            try? await Task.sleep(for: fullDone ? syncInterval : .seconds(15))
        }
    }
}
