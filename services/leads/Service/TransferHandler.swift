import CRMProto
import GRDB
import RPCCore
import ServiceRuntime

/// Admin export and raw restore of lead records with their history (crm-admin export/import).
extension LeadHandler {
    public func exportLeads(_ request: Crm_Leads_V1_ExportLeadsRequest,
                            responses: ResponseWriter<Crm_Leads_V1_ExportLeadsResponse>, context: ServerContext) async throws {
        try await guarded {
            let caller = try caller(context)
            guard caller.role == .admin else { throw RPCError(.permissionDenied, "ExportLeads needs an admin") }
            let statuses = request.statuses.map(\.rawValue)
            let now = clock.nowMs()
            var after = ""
            while true {
                // Pages in id order, each read in its own snapshot so a long export never holds the store.
                let cursor = after
                let batch = try await store.read { db -> [Crm_Leads_V1_LeadExportRecord] in
                    let settings = try LeadSettingsValues.load(db)
                    var sql = "SELECT * FROM leads WHERE id > ? AND updated_at_ms >= ?"
                    var arguments: StatementArguments = [cursor, request.updatedSinceMs]
                    if !statuses.isEmpty {
                        sql += " AND status IN (\(statuses.map { _ in "?" }.joined(separator: ",")))"
                        arguments += StatementArguments(statuses)
                    }
                    sql += " ORDER BY id LIMIT 200"
                    return try LeadRow.fetchAll(db, sql: sql, arguments: arguments).map { lead in
                        var record = Crm_Leads_V1_LeadExportRecord(lead: lead.proto(now: now, warningBeforeMs: settings.warningBeforeMs))
                        if request.includeHistory {
                            record.assignments = try AssignmentRow.history(db, leadID: lead.id).map(\.proto)
                            record.contacts = try ContactAttemptRow.history(db, leadID: lead.id).map(\.proto)
                        }
                        return record
                    }
                }
                for record in batch {
                    try await responses.write(Crm_Leads_V1_ExportLeadsResponse(record: record))
                }
                guard batch.count == 200, let last = batch.last?.lead?.id else { break }
                after = last
            }
        }
    }

    public func importLeads(_ requests: RequestStream<Crm_Leads_V1_ImportLeadsRequest>, context: ServerContext) async throws
        -> Crm_Leads_V1_ImportLeadsResponse {
        try await guarded {
            let caller = try caller(context)
            guard caller.role == .admin else { throw RPCError(.permissionDenied, "ImportLeads needs an admin") }
            var records: [Crm_Leads_V1_LeadExportRecord?] = []
            var dryRun: Bool?
            for try await message in requests {
                if dryRun == nil { dryRun = message.dryRun }
                records.append(message.record)
                if records.count > Self.maxBulkRows {
                    throw RPCError(.resourceExhausted, "at most \(Self.maxBulkRows) records per call")
                }
            }
            let dry = dryRun ?? false
            var results: [Crm_Leads_V1_LeadRowResult] = []
            var start = 0
            while start < records.count {
                let end = min(start + Self.bulkChunk, records.count)
                let chunk = Array(records[start..<end].enumerated()).map { (start + $0.offset + 1, $0.element) }
                start = end
                let chunkResults = try await store.write { db in
                    chunk.map { number, record in Self.restore(db, record, rowNumber: Int64(number), dryRun: dry) }
                }
                results += chunkResults
            }
            return Crm_Leads_V1_ImportLeadsResponse(results: results, summary: Self.summarize(results))
        }
    }

    /// Restores one exported record as-is: a lead id already present is left alone (idempotent).
    private static func restore(_ db: Database, _ record: Crm_Leads_V1_LeadExportRecord?, rowNumber: Int64,
                                dryRun: Bool) -> Crm_Leads_V1_LeadRowResult {
        var result = Crm_Leads_V1_LeadRowResult(rowNumber: rowNumber)
        guard let lead = record?.lead else {
            result.status = .invalid
            result.fieldErrors = [Crm_Leads_V1_FieldError(field: "record.lead", message: "required")]
            result.message = "record.lead: required"
            return result
        }
        result.leadId = lead.id
        result.ownerId = lead.ownerId
        var problems = FieldProblems()
        if lead.id.isEmpty || lead.id.count > 200 { problems.add("lead.id", "required, at most 200 characters") }
        if case .unspecified = lead.status { problems.add("lead.status", "required") }
        if case .unrecognized = lead.status { problems.add("lead.status", "unknown value") }
        if lead.source == .unspecified { problems.add("lead.source", "required") }
        if lead.createdAtMs <= 0 { problems.add("lead.created_at_ms", "required") }
        if lead.version < 0 || lead.version > 1 << 53 { problems.add("lead.version", "out of range") }
        if lead.contactAttempts < 0 || lead.reclaimCount < 0 { problems.add("lead", "negative counters") }
        if lead.activationDeadlineMs < lead.assignedAtMs { problems.add("lead.activation_deadline_ms", "before assigned_at_ms") }
        if lead.status != .pool && lead.status != .disqualified && lead.ownerId.isEmpty {
            problems.add("lead.owner_id", "required for status \(lead.status.protoName)")
        }
        guard problems.isEmpty else {
            result.status = .invalid
            result.fieldErrors = problems.problems.map(\.proto)
            result.message = problems.rpcError.message
            return result
        }
        do {
            if try LeadRow.fetch(db, id: lead.id) != nil {
                result.status = .replayed
                result.message = "lead \(lead.id) already present; left unchanged"
                return result
            }
            if dryRun {
                result.status = .valid
                return result
            }
            try db.inSavepoint {
                try LeadRow(restoring: lead).insert(db)
                for assignment in record?.assignments ?? [] where assignment.leadId == lead.id && !assignment.id.isEmpty {
                    try AssignmentRow(assignment).insert(db, ignoreExisting: true)
                }
                for contact in record?.contacts ?? [] where contact.leadId == lead.id && !contact.id.isEmpty {
                    try ContactAttemptRow(contact).insert(db, ignoreExisting: true)
                }
                return .commit
            }
            result.status = .created
        } catch {
            result.status = .failed
            result.message = "\(error)"
        }
        return result
    }
}
