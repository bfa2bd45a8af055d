import CRMProto
import GRDB
import RPCCore
import ServiceRuntime

/// What crm-leads takes from other services' events (crm.events.v1), each applied once through the
/// shared inbox: DEAL_WON of a converted lead's opportunity (won amount per source, line 1 ROI), and
/// TICKET_CLOSED whose return visit found a repurchase need (R9 hands a new lead back to line 1).
enum LeadEventConsumer {
    static func apply(_ db: Database, _ event: Crm_Events_V1_Event) throws -> EventOutcome {
        switch event.kind {
        case .dealWon:
            return try dealWon(db, event)
        case .ticketClosed:
            return try ticketClosed(db, event)
        default:
            return .ignored
        }
    }

    private static func dealWon(_ db: Database, _ event: Crm_Events_V1_Event) throws -> EventOutcome {
        guard let payload = event.dealWon else {
            throw RPCError(.invalidArgument, "DEAL_WON event \(event.eventId) has no deal_won payload")
        }
        let opportunityID = event.opportunityId.isEmpty ? event.aggregateId : event.opportunityId
        var leadID = event.leadId
        if try leadID.isEmpty || LeadRow.fetch(db, id: leadID) == nil {
            leadID = try String.fetchOne(db, sql: "SELECT id FROM leads WHERE opportunity_id = ? AND opportunity_id <> ''",
                                         arguments: [opportunityID]) ?? ""
        }
        guard !leadID.isEmpty, !opportunityID.isEmpty else { return .ignored }  // a deal that did not come from a lead
        try db.execute(sql: """
            INSERT INTO lead_wins (opportunity_id, lead_id, amount_cents, currency, won_at_ms, event_id)
            VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (opportunity_id) DO NOTHING
            """, arguments: [opportunityID, leadID, payload.signedAmountCents, payload.currency.uppercased(),
                             event.occurredAtMs, event.eventId])
        return .applied
    }

    private static func ticketClosed(_ db: Database, _ event: Crm_Events_V1_Event) throws -> EventOutcome {
        guard let payload = event.ticketClosed else {
            throw RPCError(.invalidArgument, "TICKET_CLOSED event \(event.eventId) has no ticket_closed payload")
        }
        guard let visit = payload.returnVisit, visit.repurchaseOpportunity else { return .ignored }
        guard !event.customerId.isEmpty else {
            throw RPCError(.invalidArgument, "TICKET_CLOSED event \(event.eventId) with a repurchase need names no customer_id")
        }
        try db.execute(sql: """
            INSERT INTO repurchase_intake (event_id, ticket_id, customer_id, contact_id, owner_id, team_id, title, note,
                                           estimate_cents, currency, received_at_ms, lead_id, attempts, next_attempt_ms,
                                           last_error, done)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, '', 0, 0, '', 0) ON CONFLICT (event_id) DO NOTHING
            """, arguments: [event.eventId, event.ticketId.isEmpty ? event.aggregateId : event.ticketId, event.customerId,
                             event.contactId, payload.ownerId, event.teamId, payload.title, visit.repurchaseNote,
                             visit.repurchaseEstimateCents, visit.currency, event.occurredAtMs])
        return .applied
    }
}
