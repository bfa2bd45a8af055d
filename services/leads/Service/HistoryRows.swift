import CRMProto
import GRDB

/// One entry of a lead's assignment log (R2: every assignment, claim and reclaim, with who and why).
struct AssignmentRow: FetchableRecord, Sendable {
    var id: String
    var leadId: String
    var kind: Int32
    var fromOwnerId: String
    var toOwnerId: String
    var actorId: String
    var reason: String
    var ruleId: String
    var atMs: Int64
    var activationDeadlineMs: Int64

    var proto: Crm_Leads_V1_AssignmentRecord {
        Crm_Leads_V1_AssignmentRecord(
            id: id, leadId: leadId, kind: Crm_Leads_V1_AssignmentKind(rawValue: kind),
            fromOwnerId: fromOwnerId, toOwnerId: toOwnerId, actorId: actorId, reason: reason,
            ruleId: ruleId, atMs: atMs, activationDeadlineMs: activationDeadlineMs)
    }

    init(_ record: Crm_Leads_V1_AssignmentRecord) {
        id = record.id
        leadId = record.leadId
        kind = record.kind.rawValue
        fromOwnerId = record.fromOwnerId
        toOwnerId = record.toOwnerId
        actorId = record.actorId
        reason = record.reason
        ruleId = record.ruleId
        atMs = record.atMs
        activationDeadlineMs = record.activationDeadlineMs
    }

    init(row: Row) throws {
        id = row["id"]
        leadId = row["lead_id"]
        kind = row["kind"]
        fromOwnerId = row["from_owner_id"]
        toOwnerId = row["to_owner_id"]
        actorId = row["actor_id"]
        reason = row["reason"]
        ruleId = row["rule_id"]
        atMs = row["at_ms"]
        activationDeadlineMs = row["activation_deadline_ms"]
    }

    /// `ignoreExisting`: a restore leaves an entry that is already there alone.
    func insert(_ db: Database, ignoreExisting: Bool = false) throws {
        try db.cachedStatement(sql: """
            INSERT \(ignoreExisting ? "OR IGNORE " : "")INTO assignments
                (id, lead_id, kind, from_owner_id, to_owner_id, actor_id, reason, rule_id, at_ms, activation_deadline_ms)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """).execute(arguments: [id, leadId, kind, fromOwnerId, toOwnerId, actorId, reason, ruleId, atMs,
                                     activationDeadlineMs])
    }

    static func history(_ db: Database, leadID: String) throws -> [AssignmentRow] {
        try AssignmentRow.fetchAll(db, sql: "SELECT * FROM assignments WHERE lead_id = ? ORDER BY at_ms, rowid",
                                   arguments: [leadID])
    }
}

/// One recorded contact attempt (R2 activation).
struct ContactAttemptRow: FetchableRecord, Sendable {
    var id: String
    var leadId: String
    var channel: Int32
    var outcome: Int32
    var note: String
    var actorId: String
    var contactedAtMs: Int64
    var recordedAtMs: Int64
    var activatedLead: Bool
    var withinDeadline: Bool

    var proto: Crm_Leads_V1_ContactAttempt {
        Crm_Leads_V1_ContactAttempt(
            id: id, leadId: leadId, channel: Crm_Leads_V1_ContactChannel(rawValue: channel),
            outcome: Crm_Leads_V1_ContactOutcome(rawValue: outcome), note: note, actorId: actorId,
            contactedAtMs: contactedAtMs, recordedAtMs: recordedAtMs, activatedLead: activatedLead,
            withinDeadline: withinDeadline)
    }

    init(_ attempt: Crm_Leads_V1_ContactAttempt) {
        id = attempt.id
        leadId = attempt.leadId
        channel = attempt.channel.rawValue
        outcome = attempt.outcome.rawValue
        note = attempt.note
        actorId = attempt.actorId
        contactedAtMs = attempt.contactedAtMs
        recordedAtMs = attempt.recordedAtMs
        activatedLead = attempt.activatedLead
        withinDeadline = attempt.withinDeadline
    }

    init(row: Row) throws {
        id = row["id"]
        leadId = row["lead_id"]
        channel = row["channel"]
        outcome = row["outcome"]
        note = row["note"]
        actorId = row["actor_id"]
        contactedAtMs = row["contacted_at_ms"]
        recordedAtMs = row["recorded_at_ms"]
        activatedLead = row["activated_lead"]
        withinDeadline = row["within_deadline"]
    }

    func insert(_ db: Database, ignoreExisting: Bool = false) throws {
        try db.cachedStatement(sql: """
            INSERT \(ignoreExisting ? "OR IGNORE " : "")INTO contact_attempts
                (id, lead_id, channel, outcome, note, actor_id, contacted_at_ms, recorded_at_ms, activated_lead, within_deadline)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """).execute(arguments: [id, leadId, channel, outcome, note, actorId, contactedAtMs, recordedAtMs,
                                     activatedLead, withinDeadline])
    }

    static func history(_ db: Database, leadID: String) throws -> [ContactAttemptRow] {
        try ContactAttemptRow.fetchAll(
            db, sql: "SELECT * FROM contact_attempts WHERE lead_id = ? ORDER BY recorded_at_ms, rowid",
            arguments: [leadID])
    }
}
