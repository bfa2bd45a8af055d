import CRMProto
import Foundation
import GRDB
import ProtoWire
import RPCCore

/// Reading and writing the stored records. Every table keeps the canonical protobuf record plus the
/// projection columns queries use; `save` derives the projections from the record in one place.
enum OpportunityTable {
    static func find(_ db: Database, id: String) throws -> Opportunity? {
        try Row.fetchOne(db, sql: "SELECT record FROM opportunities WHERE id = ?", arguments: [id])
            .map { try decode(Opportunity.self, $0) }
    }

    static func find(_ db: Database, leadID: String) throws -> Opportunity? {
        try Row.fetchOne(db, sql: "SELECT record FROM opportunities WHERE lead_id = ?", arguments: [leadID])
            .map { try decode(Opportunity.self, $0) }
    }

    /// Rows of a query that selects `record` (and anything else) from opportunities.
    static func fetchAll(_ db: Database, sql: String, arguments: StatementArguments) throws -> [Opportunity] {
        try Row.fetchAll(db, sql: sql, arguments: arguments).map { try decode(Opportunity.self, $0) }
    }

    /// Inserts or replaces the record and its projections. `changedAtMs` feeds incremental exports.
    static func save(_ db: Database, _ o: Opportunity, changedAtMs: Int64) throws {
        let risk = o.risk ?? Risk()
        let riskSince = risk.reasons.map(\.sinceMs).min() ?? 0
        try db.execute(sql: """
            INSERT INTO opportunities (id, version, customer_id, lead_id, owner_id, team_id, stage, status, close_date,
                amount_cents, currency, key_person_contact_id, title, customer_name, risk_level, risk_since_ms,
                snoozed_until_ms, created_at_ms, updated_at_ms, last_follow_up_at_ms, changed_at_ms, record)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT (id) DO UPDATE SET version = excluded.version, customer_id = excluded.customer_id,
                lead_id = excluded.lead_id, owner_id = excluded.owner_id, team_id = excluded.team_id,
                stage = excluded.stage, status = excluded.status, close_date = excluded.close_date,
                amount_cents = excluded.amount_cents, currency = excluded.currency,
                key_person_contact_id = excluded.key_person_contact_id, title = excluded.title,
                customer_name = excluded.customer_name, risk_level = excluded.risk_level,
                risk_since_ms = excluded.risk_since_ms, snoozed_until_ms = excluded.snoozed_until_ms,
                created_at_ms = excluded.created_at_ms, updated_at_ms = excluded.updated_at_ms,
                last_follow_up_at_ms = excluded.last_follow_up_at_ms, changed_at_ms = excluded.changed_at_ms,
                record = excluded.record
            """, arguments: [
                o.id, o.version, o.customerId, o.leadId.isEmpty ? nil : o.leadId, o.ownerId, o.teamId,
                o.stage.rawValue, o.status.rawValue, closeDate(of: o), o.amountCents, o.currency,
                o.keyPersonContactId, o.title, o.customerName, risk.level.rawValue, riskSince,
                risk.snooze?.resumeAtMs ?? 0, o.createdAtMs, o.updatedAtMs, o.lastFollowUpAtMs, changedAtMs,
                Data(o.serializedBytes()),
            ])
    }

    /// The date a deal closes: the expected close date while open, the signing date of a win, the
    /// (UTC) day a loss was recorded. Close-date windows of lists and exports filter on it.
    static func closeDate(of o: Opportunity) -> String {
        switch o.status {
        case .won where !o.signedDate.isEmpty: o.signedDate
        case .won, .lost: o.closedAtMs > 0 ? CivilDate(utcDayOf: o.closedAtMs).description : o.expectedCloseDate
        default: o.expectedCloseDate
        }
    }
}

enum StageChangeTable {
    static func insert(_ db: Database, _ change: StageChange) throws {
        try db.execute(sql: "INSERT INTO stage_changes (id, opportunity_id, at_ms, record) VALUES (?, ?, ?, ?)",
                       arguments: [change.id, change.opportunityId, change.atMs, Data(change.serializedBytes())])
    }

    static func history(_ db: Database, opportunityID: String) throws -> [StageChange] {
        try Row.fetchAll(db, sql: "SELECT record FROM stage_changes WHERE opportunity_id = ? ORDER BY at_ms, rowid",
                         arguments: [opportunityID]).map { try decode(StageChange.self, $0) }
    }
}

enum FollowUpTable {
    static func insert(_ db: Database, _ f: FollowUp) throws {
        try db.execute(sql: """
            INSERT INTO follow_ups (id, opportunity_id, customer_id, owner_id, team_id, type, occurred_at_ms, record)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?)
            """, arguments: [f.id, f.opportunityId.isEmpty ? nil : f.opportunityId, f.customerId, f.ownerId, f.teamId,
                             f.type.rawValue, f.occurredAtMs, Data(f.serializedBytes())])
    }

    static func forOpportunity(_ db: Database, _ opportunityID: String) throws -> [FollowUp] {
        try Row.fetchAll(db, sql: "SELECT record FROM follow_ups WHERE opportunity_id = ? ORDER BY occurred_at_ms, id",
                         arguments: [opportunityID]).map { try decode(FollowUp.self, $0) }
    }
}

enum TaskTable {
    static func find(_ db: Database, id: String) throws -> TaskItem? {
        try Row.fetchOne(db, sql: "SELECT record FROM tasks WHERE id = ?", arguments: [id]).map { try decode(TaskItem.self, $0) }
    }

    static func save(_ db: Database, _ t: TaskItem) throws {
        try db.execute(sql: """
            INSERT INTO tasks (id, version, owner_id, team_id, status, due_ms, opportunity_id, customer_id, record)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT (id) DO UPDATE SET version = excluded.version, owner_id = excluded.owner_id,
                team_id = excluded.team_id, status = excluded.status, due_ms = excluded.due_ms,
                opportunity_id = excluded.opportunity_id, customer_id = excluded.customer_id, record = excluded.record
            """, arguments: [t.id, t.version, t.ownerId, t.teamId, t.status.rawValue, t.dueMs,
                             t.opportunityId.isEmpty ? nil : t.opportunityId, t.customerId, Data(t.serializedBytes())])
    }

    /// Open tasks of an opportunity, earliest due first.
    static func open(_ db: Database, opportunityID: String) throws -> [TaskItem] {
        try Row.fetchAll(db, sql: "SELECT record FROM tasks WHERE opportunity_id = ? AND status = ? ORDER BY due_ms, id",
                         arguments: [opportunityID, TaskStatus.open.rawValue]).map { try decode(TaskItem.self, $0) }
    }

    static func all(_ db: Database, opportunityID: String) throws -> [TaskItem] {
        try Row.fetchAll(db, sql: "SELECT record FROM tasks WHERE opportunity_id = ? ORDER BY id",
                         arguments: [opportunityID]).map { try decode(TaskItem.self, $0) }
    }
}

enum RiskFlagTable {
    /// Every flag raised on an opportunity, oldest first (R12 "risks identified, cleared?").
    static func history(_ db: Database, opportunityID: String) throws -> [RiskFlagRecord] {
        try Row.fetchAll(db, sql: """
            SELECT kind, level, raised_at_ms, cleared_at_ms FROM risk_flags WHERE opportunity_id = ? ORDER BY id
            """, arguments: [opportunityID]).map { row in
            RiskFlagRecord(kind: RiskKind(rawValue: row["kind"]), level: RiskLevel(rawValue: row["level"]),
                           raisedAtMs: row["raised_at_ms"], clearedAtMs: row["cleared_at_ms"])
        }
    }
}

/// Decodes the `record` column of a row. A record that does not decode is a damaged store, which is
/// an internal error, never the caller's fault.
func decode<M: ProtoMessage>(_ type: M.Type, _ row: Row) throws -> M {
    let data: Data = row["record"]
    do {
        return try M(serializedBytes: Array(data))
    } catch {
        throw RPCError(.internal, "stored \(M.protoMessageName) does not decode: \(error)")
    }
}
