import CRMProto
import GRDB
import RPCCore

/// Lead facts from crm-leads' events (line 1, R2): who had each lead, its activation deadline, and
/// whether it was ever contacted — what the R12 review lists as "leads never followed".
enum LeadFacts {
    static func leadID(_ event: Event) throws -> String {
        let id = event.leadId.isEmpty && event.aggregateType == .lead ? event.aggregateId : event.leadId
        guard !id.isEmpty else { throw RPCError(.invalidArgument, "lead_id: required for \(event.kind.protoName)") }
        return id
    }

    static func apply(_ db: Database, _ event: Event) throws {
        let leadID = try leadID(event)
        let at = event.occurredAtMs
        try db.execute(sql: "INSERT OR IGNORE INTO lead (id, created_ms, team_id) VALUES (?, ?, ?)",
                       arguments: [leadID, at, event.teamId])
        switch event.kind {
        case .leadCreated:
            guard let p = event.leadCreated else { throw missing(event) }
            try db.execute(sql: """
                UPDATE lead SET source = ?, owner_id = ?, company = ?, created_ms = ?, status = ?,
                       team_id = CASE WHEN ? <> '' THEN ? ELSE team_id END
                WHERE id = ?
                """, arguments: [p.source.rawValue, p.ownerId, p.company, at,
                                 (p.ownerId.isEmpty ? Crm_Leads_V1_LeadStatus.pool : .assigned).rawValue,
                                 event.teamId, event.teamId, leadID])
        case .leadAssigned:
            guard let p = event.leadAssigned else { throw missing(event) }
            try db.execute(sql: """
                UPDATE lead SET owner_id = ?, assigned_ms = ?, deadline_ms = ?, activated_ms = 0, status = ?,
                       source = CASE WHEN source = 0 THEN ? ELSE source END,
                       team_id = CASE WHEN ? <> '' THEN ? ELSE team_id END
                WHERE id = ?
                """, arguments: [p.toOwnerId, at, p.activationDeadlineMs, Crm_Leads_V1_LeadStatus.assigned.rawValue,
                                 p.source.rawValue, event.teamId, event.teamId, leadID])
            try db.execute(sql: """
                INSERT OR IGNORE INTO lead_assignment (lead_id, assigned_ms, owner_id, team_id, deadline_ms)
                VALUES (?, ?, ?, ?, ?)
                """, arguments: [leadID, at, p.toOwnerId, event.teamId, p.activationDeadlineMs])
        case .leadActivated:
            guard let p = event.leadActivated else { throw missing(event) }
            let activated = p.activatedAtMs > 0 ? p.activatedAtMs : at
            try db.execute(sql: "UPDATE lead SET activated_ms = ?, status = ? WHERE id = ?",
                           arguments: [activated, Crm_Leads_V1_LeadStatus.activated.rawValue, leadID])
            try db.execute(sql: """
                UPDATE lead_assignment SET activated_ms = ?
                WHERE lead_id = ? AND assigned_ms = (SELECT MAX(assigned_ms) FROM lead_assignment WHERE lead_id = ?)
                """, arguments: [activated, leadID, leadID])
        case .leadReclaimed:
            try db.execute(sql: "UPDATE lead SET owner_id = '', reclaim_count = reclaim_count + 1, status = ? WHERE id = ?",
                           arguments: [Crm_Leads_V1_LeadStatus.pool.rawValue, leadID])
            try db.execute(sql: """
                UPDATE lead_assignment SET reclaimed_ms = ?
                WHERE lead_id = ? AND reclaimed_ms = 0 AND activated_ms = 0
                """, arguments: [at, leadID])
        case .leadDisqualified:
            try db.execute(sql: "UPDATE lead SET status = ? WHERE id = ?",
                           arguments: [Crm_Leads_V1_LeadStatus.disqualified.rawValue, leadID])
        case .leadConverted:
            let opportunity = event.leadConverted?.opportunityId ?? event.opportunityId
            try db.execute(sql: "UPDATE lead SET status = ?, opportunity_id = ? WHERE id = ?",
                           arguments: [Crm_Leads_V1_LeadStatus.converted.rawValue, opportunity, leadID])
        default:
            break
        }
    }

    private static func missing(_ event: Event) -> RPCError {
        RPCError(.invalidArgument, "\(event.kind.protoName): payload missing")
    }
}
