import CRMProto
import GRDB
import ServiceRuntime

/// The events crm-opportunities produces (SUITE.md "Between services"): written to the outbox in the
/// same transaction as the change, then delivered by the runtime's OutboxRelay to each consumer.
enum EventRoutes {
    static let producer = "crm-opportunities"

    /// Every consumer this service delivers to (one relay loop each).
    static let destinations = ["customers", "tickets", "leads", "forecast"]

    /// Who consumes which kind (events.proto's producer/consumer table).
    static func destinations(for kind: EventKind) -> [String] {
        switch kind {
        case .dealWon: ["customers", "tickets", "leads", "forecast"]
        case .opportunityCreated, .stageChanged, .dealLost, .followUpRecorded: ["customers", "forecast"]
        case .riskChanged: ["forecast"]
        default: []
        }
    }
}

enum EventOutbox {
    /// An envelope about an opportunity, at its current version, with its related ids.
    static func about(_ o: Opportunity, kind: EventKind, _ c: WriteContext) -> Event {
        var event = envelope(kind, c)
        event.aggregateType = .opportunity
        event.aggregateId = o.id
        event.aggregateVersion = o.version
        event.opportunityId = o.id
        event.customerId = o.customerId
        event.contactId = o.keyPersonContactId
        event.leadId = o.leadId
        event.teamId = o.teamId
        return event
    }

    static func envelope(_ kind: EventKind, _ c: WriteContext) -> Event {
        var event = Event()
        event.schemaVersion = 1
        event.kind = kind
        event.occurredAtMs = c.now
        event.producer = EventRoutes.producer
        event.requestId = c.requestID
        event.actorId = c.actorID
        event.actorTeamId = c.actorTeam
        return event
    }

    /// Gives the event its id and this producer's next sequence number, and queues it for its consumers.
    static func enqueue(_ event: Event, _ c: WriteContext) throws {
        var event = event
        try c.db.execute(sql: "UPDATE counters SET value = value + 1 WHERE name = 'event_sequence'")
        event.sequence = try Int64.fetchOne(c.db, sql: "SELECT value FROM counters WHERE name = 'event_sequence'") ?? 0
        event.eventId = RecordID.make("oppevt", nowMs: c.now)
        try Outbox.enqueue(c.db, event, to: EventRoutes.destinations(for: event.kind))
    }
}
