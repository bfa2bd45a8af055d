import CRMProto
import GRDB
import ServiceRuntime

typealias TimelineEntry = Crm_Customers_V1_TimelineEntry
typealias LifecycleTransition = Crm_Customers_V1_LifecycleTransition

/// The customer's audit trail: every change and every interaction learned from other services is a
/// timeline entry, and every lifecycle move is also a transition with who/when/why (line 2).
enum Audit {
    static func record(_ db: Database, _ entry: TimelineEntry) throws {
        var entry = entry
        if entry.id.isEmpty { entry.id = RecordID.make("tle", nowMs: entry.atMs) }
        try db.cachedStatement(sql: """
            INSERT INTO timeline (id, customer_id, kind, at_ms, actor_id, summary, trigger_kind, source_service, event_id,
                                  lead_id, opportunity_id, ticket_id, follow_up_id, contact_id, from_status, to_status,
                                  from_owner_id, to_owner_id)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """).execute(arguments: [entry.id, entry.customerId, entry.kind.rawValue, entry.atMs, entry.actorId, entry.summary,
                                     entry.trigger.rawValue, entry.sourceService, entry.eventId, entry.leadId, entry.opportunityId,
                                     entry.ticketId, entry.followUpId, entry.contactId, entry.fromStatus.rawValue,
                                     entry.toStatus.rawValue, entry.fromOwnerId, entry.toOwnerId])
    }

    /// A timeline entry about `customerID` made by `actor` now.
    static func entry(_ kind: Crm_Customers_V1_TimelineEntryKind, customerID: String, actor: String, atMs: Int64,
                      summary: String, trigger: Crm_Customers_V1_ChangeTrigger = .manual) -> TimelineEntry {
        TimelineEntry(customerId: customerID, kind: kind, atMs: atMs, actorId: actor, summary: summary, trigger: trigger)
    }

    static func timelineEntry(row: Row) -> TimelineEntry {
        TimelineEntry(
            id: row["id"], customerId: row["customer_id"], kind: .init(rawValue: row["kind"]), atMs: row["at_ms"],
            actorId: row["actor_id"], summary: row["summary"], trigger: .init(rawValue: row["trigger_kind"]),
            sourceService: row["source_service"], eventId: row["event_id"], leadId: row["lead_id"],
            opportunityId: row["opportunity_id"], ticketId: row["ticket_id"], followUpId: row["follow_up_id"],
            contactId: row["contact_id"], fromStatus: .init(rawValue: row["from_status"]),
            toStatus: .init(rawValue: row["to_status"]), fromOwnerId: row["from_owner_id"], toOwnerId: row["to_owner_id"])
    }

    /// Moves `stored` to `transition.toStatus`, recording the transition and a STATUS_CHANGED entry.
    /// The caller saves the customer and bumps its version.
    static func changeStatus(_ db: Database, _ stored: inout StoredCustomer, _ transition: LifecycleTransition,
                             sourceService: String = "", opportunityID: String = "", ticketID: String = "") throws {
        stored.customer.lifecycleStatus = transition.toStatus
        stored.customer.lifecycleChangedAtMs = transition.atMs
        if transition.toStatus == .churned {
            stored.customer.churnReason = transition.reason
            stored.customer.churnRisk = false
            stored.customer.churnRiskSinceMs = 0
        } else if transition.fromStatus == .churned {
            stored.customer.churnReason = ""
        }
        try recordTransition(db, customerID: stored.customer.id, transition)
        var summary = "\(Lifecycle.name(transition.fromStatus)) → \(Lifecycle.name(transition.toStatus))"
        if !transition.reason.isEmpty { summary += ": \(transition.reason)" }
        var entry = entry(.statusChanged, customerID: stored.customer.id, actor: transition.actorId,
                          atMs: transition.atMs, summary: summary, trigger: transition.trigger)
        entry.fromStatus = transition.fromStatus
        entry.toStatus = transition.toStatus
        entry.eventId = transition.eventId
        entry.sourceService = sourceService
        entry.opportunityId = opportunityID
        entry.ticketId = ticketID
        try record(db, entry)
    }

    /// Stores one lifecycle transition (who/when/why, line 2).
    static func recordTransition(_ db: Database, customerID: String, _ transition: LifecycleTransition) throws {
        try db.cachedStatement(sql: """
            INSERT INTO lifecycle_transitions (customer_id, from_status, to_status, actor_id, at_ms, reason, trigger_kind, event_id)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?)
            """).execute(arguments: [customerID, transition.fromStatus.rawValue, transition.toStatus.rawValue,
                                     transition.actorId, transition.atMs, transition.reason, transition.trigger.rawValue,
                                     transition.eventId])
    }

    static func transitions(_ db: Database, customerID: String) throws -> [LifecycleTransition] {
        try Row.fetchAll(db, sql: "SELECT * FROM lifecycle_transitions WHERE customer_id = ? ORDER BY seq",
                         arguments: [customerID]).map { row in
            LifecycleTransition(fromStatus: .init(rawValue: row["from_status"]), toStatus: .init(rawValue: row["to_status"]),
                                actorId: row["actor_id"], atMs: row["at_ms"], reason: row["reason"],
                                trigger: .init(rawValue: row["trigger_kind"]), eventId: row["event_id"])
        }
    }
}
