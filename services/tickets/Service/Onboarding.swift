import CRMProto
import GRDB
import RPCCore
import ServiceRuntime

/// R9 "after a win comes delivery": a DEAL_WON event opens the onboarding line from the configured
/// template (delivery, training, return visit, repurchase check …), due that many days after the
/// win and owned by the deal owner unless a step names its own owner.
///
/// Exactly one line per opportunity, however often the event arrives: the inbox stops a repeated
/// event id, `onboarding_lines` stops a second won event for the same opportunity, and the unique
/// (opportunity_id, template_step) index stops any path that slipped past both.
enum Onboarding {
    static func openLine(_ db: Database, _ event: Crm_Events_V1_Event, now: Int64) throws -> EventOutcome {
        let won = event.dealWon ?? Crm_Events_V1_DealWonPayload()
        var errors = FieldErrors()
        if event.opportunityId.isEmpty { errors.add("opportunity_id", "required on DEAL_WON") }
        if event.customerId.isEmpty { errors.add("customer_id", "required on DEAL_WON") }
        let ownerID = !won.ownerId.isEmpty ? won.ownerId : event.actorId
        if ownerID.isEmpty || ownerID == "system" { errors.add("deal_won.owner_id", "required on DEAL_WON") }
        errors.checkID("opportunity_id", event.opportunityId)
        errors.checkID("customer_id", event.customerId)
        errors.checkInstant("occurred_at_ms", event.occurredAtMs)
        try errors.throwIfAny()

        let already = try Bool.fetchOne(db, sql: "SELECT 1 FROM onboarding_lines WHERE opportunity_id = ?",
                                        arguments: [event.opportunityId]) ?? false
        if already { return .ignored }

        let teamID = [won.teamId, event.teamId, event.actorTeamId].first { !$0.isEmpty } ?? ""
        try TicketService.rememberCustomer(db, id: event.customerId, name: won.customerName, ownerID: ownerID,
                                           teamID: teamID, now: now, onlyIfUnknown: true)
        let customerName = !won.customerName.isEmpty ? won.customerName
            : (try String.fetchOne(db, sql: "SELECT name FROM customers WHERE customer_id = ?", arguments: [event.customerId]) ?? "")
        let wonAt = event.occurredAtMs > 0 ? event.occurredAtMs : now
        let settings = try SettingsStore.load(db)
        let actor = TicketEvents.Actor.system(cause: event.eventId)
        var opened = 0
        for step in settings.onboardingTemplate {
            let priority = step.priority == .unspecified ? TicketPriority.normal : step.priority
            let exists = try Bool.fetchOne(db, sql: "SELECT 1 FROM tickets WHERE opportunity_id = ? AND template_step = ?",
                                           arguments: [event.opportunityId, step.key]) ?? false
            if exists { continue }
            let due = wonAt.plus(Int64(step.dueAfterDays) * Millis.day)
            let title = won.title.isEmpty ? step.title : "\(step.title): \(won.title)"
            let ticket = TicketRecord.new(
                id: RecordID.make("tkt", nowMs: now), kind: step.kind, customerID: event.customerId,
                customerName: customerName, opportunityID: event.opportunityId,
                title: String(title.prefix(TicketFields.maxTitle)),
                details: step.details, priority: priority, ownerID: step.ownerId.isEmpty ? ownerID : step.ownerId,
                teamID: teamID, dueMs: due, origin: .onboarding, templateStep: step.key, createdBy: "system",
                now: now, target: settings.target(for: priority))
            try ticket.insert(db)
            _ = try TicketService.recordTransition(db, ticketID: ticket.id, from: .unspecified, to: .open,
                                                   actor: "system", at: now, reason: "onboarding after deal won (\(event.eventId))")
            try TicketEvents.opened(db, ticket, by: actor, now: now)
            opened += 1
        }
        try db.execute(sql: """
            INSERT INTO onboarding_lines (opportunity_id, customer_id, cause_event_id, ticket_count, opened_at_ms)
            VALUES (?, ?, ?, ?, ?)
            """, arguments: [event.opportunityId, event.customerId, event.eventId, opened, now])
        return .applied
    }
}
