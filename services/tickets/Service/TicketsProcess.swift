import CRMProto
import CRMStore
import Logging
import Prometheus
import RPCCore
import ServiceRuntime

/// The crm-tickets process: its store, `crm.tickets.v1.TicketService`, the `crm.events.v1.EventSink`
/// that receives DEAL_WON and customer events, the outbox relay that delivers TICKET_* events, and the
/// periodic SLA sweep. Served by `ServiceHost` (health, service token, graceful SIGTERM).
public enum TicketsProcess {
    public static func run(options: ResolvedOptions, registry: PrometheusCollectorRegistry?) async throws {
        var logger = Logger(label: "crm-tickets")
        logger.logLevel = Logger.Level(rawValue: options.logLevel) ?? .info
        let clock = options.clock
        let store = try Store(path: options.databasePath, migrations: TicketsSchema.migrations)
        let peers = Peers(options: options)
        let relay = OutboxRelay(store: store, peers: peers, producer: TicketEvents.producer,
                                destinations: TicketEvents.destinations, logger: logger)
        let tickets = TicketService(store: store, clock: clock, directory: Directory(peers: peers, logger: logger),
                                    relay: relay, logger: logger)
        let sink = EventSinkService(store: store, clock: clock) { db, event in
            try EventConsumer.apply(db, event, now: clock.nowMs())
        }
        let host = try ServiceHost(options: options, services: [tickets, sink])
        try await host.run(registry: registry, background: [
            { await relay.run() },
            SlaSweep.loop(store: store, clock: clock, logger: logger),
        ])
        await peers.close()
    }
}
