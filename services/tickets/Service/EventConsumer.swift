import CRMProto
import GRDB
import RPCCore
import ServiceRuntime

/// What crm-tickets does with events from other services (its `crm.events.v1.EventSink`). Each event
/// is applied inside the inbox transaction of `EventSinkService`, so it takes effect exactly once.
///
/// - DEAL_WON: opens the onboarding line (Onboarding.swift), once per opportunity.
/// - CUSTOMER_OWNER_CHANGED: the customer's tickets still owned by the previous owner follow the new one.
/// - CUSTOMER_CREATED: remembers the customer's name and owner (visibility, display).
/// Other known kinds are acknowledged and ignored; an unknown kind is rejected (parked by the producer).
enum EventConsumer {
    static func apply(_ db: Database, _ event: Crm_Events_V1_Event, now: Int64) throws -> EventOutcome {
        switch event.kind {
        case .dealWon:
            return try Onboarding.openLine(db, event, now: now)
        case .customerOwnerChanged:
            return try followNewOwner(db, event, now: now)
        case .customerCreated:
            guard !event.customerId.isEmpty, let payload = event.customerCreated else {
                throw RPCError(.invalidArgument, "customer_created: customer_id and payload required")
            }
            try TicketService.rememberCustomer(db, id: event.customerId, name: payload.name, ownerID: payload.ownerId,
                                               teamID: event.teamId, now: now)
            return .applied
        case .unspecified, .unrecognized:
            throw RPCError(.invalidArgument, "kind: \(event.kind.protoName) is not an event crm-tickets understands")
        default:
            return .ignored
        }
    }

    /// Customer data is a company asset: when its owner changes, open tickets the previous owner held
    /// for that customer move to the new owner, each move recorded.
    static func followNewOwner(_ db: Database, _ event: Crm_Events_V1_Event, now: Int64) throws -> EventOutcome {
        guard !event.customerId.isEmpty, let payload = event.customerOwnerChanged, !payload.toOwnerId.isEmpty else {
            throw RPCError(.invalidArgument, "customer_owner_changed: customer_id and to_owner_id required")
        }
        try TicketService.rememberCustomer(db, id: event.customerId, name: nil, ownerID: payload.toOwnerId,
                                           teamID: event.teamId, now: now)
        guard !payload.fromOwnerId.isEmpty else { return .applied }
        let tickets = try TicketRecord.fetchAll(db, sql: """
            SELECT * FROM tickets WHERE customer_id = ? AND owner_id = ? AND status IN \(TicketFields.activeStatusSQL)
            """, arguments: [event.customerId, payload.fromOwnerId])
        for var ticket in tickets {
            try TicketService.recordOwnerChange(db, ticketID: ticket.id, from: ticket.ownerID, to: payload.toOwnerId,
                                                actor: event.actorId.isEmpty ? "system" : event.actorId, at: now,
                                                reason: "customer owner changed: \(payload.reason)")
            ticket.recordBreaches(at: now)
            ticket.ownerID = payload.toOwnerId
            if !event.teamId.isEmpty { ticket.teamID = event.teamId }
            ticket.version += 1
            ticket.updatedAtMs = now
            try ticket.update(db)
        }
        return .applied
    }
}
