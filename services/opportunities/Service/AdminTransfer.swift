import CRMProto
import Foundation
import GRDB
import RPCCore
import ServiceRuntime

extension OpportunityService {
    /// Admin: every opportunity with all its children, then the follow-ups and tasks of each customer
    /// that belong to no opportunity — one record per message, in id order.
    public func exportOpportunities(_ request: Crm_Opportunities_V1_ExportOpportunitiesRequest,
                                    responses: ResponseWriter<Crm_Opportunities_V1_ExportOpportunitiesResponse>,
                                    context: ServerContext) async throws {
        try await guarded {
            try Access.requireAdminOrSystem(try Access.userOrSystem(context), "exporting opportunities")
            var errors = FieldErrors()
            Self.rejectUnknown(request.statuses, "statuses", into: &errors)
            try errors.throwIfAny()
            var after = ""
            while true {
                let start = after
                let records = try await store.read { db -> [Crm_Opportunities_V1_OpportunityExportRecord] in
                    var conditions = Conditions()
                    conditions.addIn("o.status", request.statuses.map(\.rawValue))
                    if request.updatedSinceMs > 0 { conditions.add("o.changed_at_ms >= ?", [request.updatedSinceMs]) }
                    conditions.add("o.id > ?", [start])
                    return try OpportunityTable.fetchAll(db, sql: """
                        SELECT o.record FROM opportunities o WHERE \(conditions.sql) ORDER BY o.id LIMIT 100
                        """, arguments: conditions.arguments).map { o in
                        .init(opportunity: o, customerId: o.customerId,
                              stageHistory: try StageChangeTable.history(db, opportunityID: o.id),
                              followUps: try FollowUpTable.forOpportunity(db, o.id),
                              tasks: try TaskTable.all(db, opportunityID: o.id),
                              riskHistory: try RiskFlagTable.history(db, opportunityID: o.id))
                    }
                }
                for record in records { try await responses.write(.init(record: record)) }
                guard let last = records.last?.opportunity?.id, records.count == 100 else { break }
                after = last
            }
            guard request.statuses.isEmpty && request.updatedSinceMs == 0 else { return }
            let loose = try await store.read { db -> [Crm_Opportunities_V1_OpportunityExportRecord] in
                var byCustomer: [String: Crm_Opportunities_V1_OpportunityExportRecord] = [:]
                for row in try Row.fetchAll(db, sql: "SELECT customer_id, record FROM follow_ups WHERE opportunity_id IS NULL ORDER BY id") {
                    byCustomer[row["customer_id"], default: .init(customerId: row["customer_id"])].followUps.append(try decode(FollowUp.self, row))
                }
                for row in try Row.fetchAll(db, sql: "SELECT customer_id, record FROM tasks WHERE opportunity_id IS NULL ORDER BY id") {
                    byCustomer[row["customer_id"], default: .init(customerId: row["customer_id"])].tasks.append(try decode(TaskItem.self, row))
                }
                return byCustomer.keys.sorted().compactMap { byCustomer[$0] }
            }
            for record in loose { try await responses.write(.init(record: record)) }
        }
    }

    /// Admin raw restore of exported records, idempotent by ids: a record already stored identically
    /// is UNCHANGED; each record is its own transaction; dry_run (first message) only validates.
    public func importOpportunities(_ requests: RequestStream<Crm_Opportunities_V1_ImportOpportunitiesRequest>,
                                    context: ServerContext) async throws -> Crm_Opportunities_V1_ImportOpportunitiesResponse {
        try await guarded {
            try Access.requireAdminOrSystem(try Access.userOrSystem(context), "importing opportunities")
            var response = Crm_Opportunities_V1_ImportOpportunitiesResponse()
            var dryRun: Bool?
            var row: Int64 = 0
            for try await message in requests {
                row += 1
                if dryRun == nil { dryRun = message.dryRun }
                let record = message.record ?? .init()
                var result = Crm_Opportunities_V1_ImportRowResult(rowNumber: row, opportunityId: record.opportunity?.id ?? "")
                if let problem = ImportRules.problem(record) {
                    result.status = .invalid
                    result.message = problem
                    response.failed += 1
                } else if dryRun == true {
                    result.status = .valid
                } else {
                    do {
                        let changed = try await store.write { db in try ImportRules.restore(db, record) }
                        result.status = changed ? .imported : .unchanged
                        if changed { response.imported += 1 } else { response.unchanged += 1 }
                    } catch {
                        result.status = .failed
                        result.message = "\(error)"
                        response.failed += 1
                    }
                }
                response.results.append(result)
            }
            return response
        }
    }
}

/// Checks and writes of ImportOpportunities.
enum ImportRules {
    static func problem(_ r: Crm_Opportunities_V1_OpportunityExportRecord) -> String? {
        if let o = r.opportunity {
            if o.id.isBlank { return "opportunity.id: required" }
            if o.customerId.isBlank { return "opportunity.customer_id: required" }
            if o.ownerId.isBlank { return "opportunity.owner_id: required" }
            if StageLadder.rank(o.stage) == nil && o.stage != .won && o.stage != .lost { return "opportunity.stage: not a stage" }
            if r.stageHistory.contains(where: { $0.opportunityId != o.id || $0.id.isEmpty }) { return "stage_history: entries must have ids and belong to \(o.id)" }
            if r.followUps.contains(where: { $0.opportunityId != o.id || $0.id.isEmpty }) { return "follow_ups: entries must have ids and belong to \(o.id)" }
            if r.tasks.contains(where: { $0.opportunityId != o.id || $0.id.isEmpty }) { return "tasks: entries must have ids and belong to \(o.id)" }
        } else {
            if r.customerId.isBlank { return "customer_id: required for a record without an opportunity" }
            if r.followUps.contains(where: { !$0.opportunityId.isEmpty || $0.id.isEmpty }) { return "follow_ups: entries must have ids and no opportunity" }
            if r.tasks.contains(where: { !$0.opportunityId.isEmpty || $0.id.isEmpty }) { return "tasks: entries must have ids and no opportunity" }
            if !r.riskHistory.isEmpty || !r.stageHistory.isEmpty { return "a record without an opportunity has no stage or risk history" }
        }
        return nil
    }

    /// Writes the record as-is; false when everything was already stored identically.
    static func restore(_ db: Database, _ r: Crm_Opportunities_V1_OpportunityExportRecord) throws -> Bool {
        var changed = false
        if let o = r.opportunity {
            if try OpportunityTable.find(db, id: o.id) != o {
                try OpportunityTable.save(db, o, changedAtMs: max(o.updatedAtMs, o.closedAtMs))
                changed = true
            }
            for change in r.stageHistory where try !exists(db, "stage_changes", change.id) {
                try StageChangeTable.insert(db, change)
                changed = true
            }
            if try RiskFlagTable.history(db, opportunityID: o.id) != r.riskHistory {
                try db.execute(sql: "DELETE FROM risk_flags WHERE opportunity_id = ?", arguments: [o.id])
                for flag in r.riskHistory {
                    try db.execute(sql: """
                        INSERT INTO risk_flags (opportunity_id, kind, level, raised_at_ms, cleared_at_ms) VALUES (?, ?, ?, ?, ?)
                        """, arguments: [o.id, flag.kind.rawValue, flag.level.rawValue, flag.raisedAtMs, flag.clearedAtMs])
                }
                changed = true
            }
        }
        for followUp in r.followUps where try !exists(db, "follow_ups", followUp.id) {
            try FollowUpTable.insert(db, followUp)
            changed = true
        }
        for task in r.tasks where try TaskTable.find(db, id: task.id) != task {
            try TaskTable.save(db, task)
            changed = true
        }
        return changed
    }

    /// Whether a row with `id` exists in one of this service's own tables (a constant name).
    private static func exists(_ db: Database, _ table: StaticString, _ id: String) throws -> Bool {
        try Bool.fetchOne(db, sql: "SELECT 1 FROM \(table) WHERE id = ?", arguments: [id]) ?? false
    }
}
