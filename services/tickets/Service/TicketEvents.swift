import CRMProto
import GRDB
import ServiceRuntime

/// The TICKET_* events crm-tickets produces (events.proto), written to the outbox in the same
/// transaction as the change they report:
/// - crm-customers gets every one (timeline, open ticket count; a RESOLVED DELIVERY makes the customer
///   an existing customer, R9);
/// - crm-leads gets TICKET_CLOSED when a return visit found a repurchase opportunity (R9 hand-back).
enum TicketEvents {
    static let producer = "crm-tickets"
    static let destinations = ["customers", "leads"]

    /// Who caused an event: a user's call, or the system (sweeps, events from other services).
    struct Actor: Sendable {
        var id: String
        var team: String
        var requestID: String

        init(id: String, team: String, requestID: String = "") {
            self.id = id
            self.team = team
            self.requestID = requestID
        }

        init(_ caller: Caller, requestID: String = "") {
            self.init(id: caller.userID, team: caller.team, requestID: requestID)
        }

        static func system(cause: String = "") -> Actor { Actor(id: "system", team: "", requestID: cause) }
    }

    static func opened(_ db: Database, _ ticket: TicketRecord, by actor: Actor, now: Int64) throws {
        var event = try envelope(db, .ticketOpened, ticket, actor, now)
        event.ticketOpened = Crm_Events_V1_TicketOpenedPayload(
            kind: ticket.kind, priority: ticket.priority, origin: ticket.origin, title: ticket.title,
            ownerId: ticket.ownerID, dueMs: ticket.dueMs)
        try Outbox.enqueue(db, event, to: ["customers"])
    }

    static func statusChanged(_ db: Database, _ ticket: TicketRecord, from: TicketStatus, reason: String,
                              by actor: Actor, now: Int64) throws {
        var event = try envelope(db, .ticketStatusChanged, ticket, actor, now)
        event.ticketStatusChanged = Crm_Events_V1_TicketStatusChangedPayload(
            kind: ticket.kind, fromStatus: from, toStatus: ticket.status, reason: reason, ownerId: ticket.ownerID)
        try Outbox.enqueue(db, event, to: ["customers"])
    }

    static func closed(_ db: Database, _ ticket: TicketRecord, by actor: Actor, now: Int64) throws {
        var event = try envelope(db, .ticketClosed, ticket, actor, now)
        event.ticketClosed = Crm_Events_V1_TicketClosedPayload(
            kind: ticket.kind, resolution: ticket.resolution, returnVisit: ticket.returnVisit,
            ownerId: ticket.ownerID, title: ticket.title)
        var destinations = ["customers"]
        if ticket.returnVisit?.repurchaseOpportunity == true { destinations.append("leads") }
        try Outbox.enqueue(db, event, to: destinations)
    }

    private static func envelope(_ db: Database, _ kind: Crm_Events_V1_EventKind, _ ticket: TicketRecord,
                                 _ actor: Actor, _ now: Int64) throws -> Crm_Events_V1_Event {
        Crm_Events_V1_Event(
            eventId: RecordID.make("evt", nowMs: now), schemaVersion: 1, kind: kind, occurredAtMs: now,
            sequence: try nextSequence(db), producer: producer, requestId: actor.requestID,
            actorId: actor.id, actorTeamId: actor.team, aggregateType: .ticket, aggregateId: ticket.id,
            aggregateVersion: ticket.version, customerId: ticket.customerID, opportunityId: ticket.opportunityID,
            ticketId: ticket.id, teamId: ticket.teamID)
    }

    /// The producer's outbox sequence: monotonic, committed with the event.
    private static func nextSequence(_ db: Database) throws -> Int64 {
        try db.execute(sql: "UPDATE event_sequence SET value = value + 1 WHERE id = 1")
        return try Int64.fetchOne(db, sql: "SELECT value FROM event_sequence WHERE id = 1") ?? 0
    }
}
