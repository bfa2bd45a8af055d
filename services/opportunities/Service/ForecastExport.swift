import CRMProto
import GRDB
import RPCCore
import ServiceRuntime

extension OpportunityService {
    /// R11 / R12: stream opportunities with their action facts, in id order, in batches — what
    /// crm-forecast computes probability and reviews from. `changed_since_ms` makes it incremental.
    public func exportForForecast(_ request: Crm_Opportunities_V1_ExportForForecastRequest,
                                  responses: ResponseWriter<Crm_Opportunities_V1_ExportForForecastResponse>,
                                  context: ServerContext) async throws {
        try await guarded {
            let caller = try Access.userOrSystem(context)
            var errors = FieldErrors()
            for (field, date) in [("close_date_from", request.closeDateFrom), ("close_date_to", request.closeDateTo)]
            where !date.isEmpty && CivilDate(parsing: date) == nil {
                errors.add(field, "not a date (YYYY-MM-DD): '\(date)'")
            }
            if request.batchSize < 0 { errors.add("batch_size", "must not be negative") }
            Self.rejectUnknown(request.statuses, "statuses", into: &errors)
            try errors.throwIfAny()
            let batchSize = request.batchSize == 0 ? 500 : min(Int(request.batchSize), 1000)
            let snapshot = clock.nowMs()
            var after = ""
            while true {
                let start = after
                let records = try await store.read { db -> [Crm_Opportunities_V1_ForecastRecord] in
                    var conditions = Conditions()
                    conditions.add(Access.visibilityCondition(caller, alias: "o"))
                    conditions.addIn("o.status", request.statuses.map(\.rawValue))
                    if !request.ownerId.isEmpty { conditions.add("o.owner_id = ?", [request.ownerId]) }
                    if !request.teamId.isEmpty { conditions.add("o.team_id = ?", [request.teamId]) }
                    // ">=": a change in the snapshot's own millisecond is sent again rather than missed.
                    if request.changedSinceMs > 0 { conditions.add("o.changed_at_ms >= ?", [request.changedSinceMs]) }
                    if !request.closeDateFrom.isEmpty { conditions.add("o.close_date >= ?", [request.closeDateFrom]) }
                    if !request.closeDateTo.isEmpty { conditions.add("o.close_date <= ?", [request.closeDateTo]) }
                    conditions.add("o.id > ?", [start])
                    let found = try OpportunityTable.fetchAll(db, sql: """
                        SELECT o.record FROM opportunities o WHERE \(conditions.sql) ORDER BY o.id LIMIT ?
                        """, arguments: conditions.arguments + [batchSize])
                    return try found.map { o in
                        try ForecastFacts.record(db, OpportunityWrite.presented(o, now: snapshot), now: snapshot,
                                                 stageHistory: request.includeStageHistory,
                                                 riskHistory: request.includeRiskHistory)
                    }
                }
                if records.isEmpty && !after.isEmpty { break }
                try await responses.write(.init(records: records, snapshotAtMs: snapshot))
                guard records.count == batchSize, let last = records.last?.opportunity?.id else { break }
                after = last
            }
        }
    }
}

/// The action facts of one opportunity (R11 inputs, R12 review), computed from its follow-ups and tasks.
enum ForecastFacts {
    static func record(_ db: Database, _ o: Opportunity, now: Int64, stageHistory: Bool, riskHistory: Bool) throws
        -> Crm_Opportunities_V1_ForecastRecord {
        var facts = Crm_Opportunities_V1_ActivityFacts(
            keyPersonConfirmed: o.keyPersonConfirmed, keyPersonMet: o.keyPersonMet,
            faceToFaceHeld: o.faceToFaceHeld, quoted: o.quoted)
        for row in try Row.fetchAll(db, sql: """
            SELECT type, COUNT(*) AS n, MIN(occurred_at_ms) AS first, MAX(occurred_at_ms) AS last,
                   SUM(occurred_at_ms >= ?) AS last14, SUM(occurred_at_ms >= ?) AS last30
            FROM follow_ups WHERE opportunity_id = ? GROUP BY type ORDER BY type
            """, arguments: [now &- 14 * Millis.day, now &- 30 * Millis.day, o.id]) {
            let count: Int64 = row["n"]
            let first: Int64 = row["first"], last: Int64 = row["last"]
            facts.countsByType.append(.init(type: ActivityType(rawValue: row["type"]), count: count))
            facts.followUpCount += count
            facts.firstFollowUpAtMs = facts.firstFollowUpAtMs == 0 ? first : min(facts.firstFollowUpAtMs, first)
            facts.lastFollowUpAtMs = max(facts.lastFollowUpAtMs, last)
            facts.followUpsLast14Days += Int32(clamping: row["last14"] as Int64)
            facts.followUpsLast30Days += Int32(clamping: row["last30"] as Int64)
        }
        var record = Crm_Opportunities_V1_ForecastRecord(opportunity: o, facts: facts)
        if let row = try Row.fetchOne(db, sql: """
            SELECT COUNT(*) AS open, COALESCE(SUM(due_ms < ?), 0) AS overdue,
                   COALESCE(MIN(CASE WHEN due_ms < ? THEN due_ms END), 0) AS oldest
            FROM tasks WHERE opportunity_id = ? AND status = ?
            """, arguments: [now, now, o.id, TaskStatus.open.rawValue]) {
            record.openTaskCount = Int32(clamping: row["open"] as Int64)
            record.overdueTaskCount = Int32(clamping: row["overdue"] as Int64)
            record.oldestOverdueDueMs = row["oldest"]
        }
        if stageHistory { record.stageHistory = try StageChangeTable.history(db, opportunityID: o.id) }
        if riskHistory { record.riskHistory = try RiskFlagTable.history(db, opportunityID: o.id) }
        return record
    }
}
