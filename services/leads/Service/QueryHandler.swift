import CRMProto
import Foundation
import GRDB
import ProtoWire
import RPCCore
import ServiceRuntime

/// Line 1 traceability: one lead with its history, and the filtered lead list.
extension LeadHandler {
    public func getLead(_ request: Crm_Leads_V1_GetLeadRequest, context: ServerContext) async throws
        -> Crm_Leads_V1_GetLeadResponse {
        try await guarded {
            let caller = try caller(context)
            try Self.requireID("lead_id", request.leadId)
            let now = clock.nowMs()
            return try await store.read { db in
                let lead = try Self.visibleLead(db, id: request.leadId, caller: caller)
                let settings = try LeadSettingsValues.load(db)
                var response = Crm_Leads_V1_GetLeadResponse(lead: lead.proto(now: now, warningBeforeMs: settings.warningBeforeMs))
                if request.includeHistory {
                    response.assignments = try AssignmentRow.history(db, leadID: lead.id).map(\.proto)
                    response.contacts = try ContactAttemptRow.history(db, leadID: lead.id).map(\.proto)
                }
                return response
            }
        }
    }

    /// Newest first by (created_at, id) with a keyset cursor, so pages never skip or repeat rows.
    public func listLeads(_ request: Crm_Leads_V1_ListLeadsRequest, context: ServerContext) async throws
        -> Crm_Leads_V1_ListLeadsResponse {
        try await guarded {
            let caller = try caller(context)
            let pageSize = try PageToken.pageSize(request.pageSize)
            var errors = FieldErrors()
            errors.maxLength("query", request.query, 200)
            if request.createdFromMs < 0 { errors.add("created_from_ms", "must not be negative") }
            if request.createdToMs < 0 { errors.add("created_to_ms", "must not be negative") }
            try errors.throwIfAny()
            var filter = request
            filter.pageToken = ""
            filter.pageSize = 0
            let fingerprint = Fingerprint.of(filter)
            let cursor = try PageToken.decode(request.pageToken, parts: 3)
            if let cursor, cursor[0] != fingerprint {
                throw RPCError(.invalidArgument, "page_token: belongs to a different filter")
            }
            let cursorCreated = try cursor.map { parts -> Int64 in
                guard let value = Int64(parts[1]) else { throw RPCError(.invalidArgument, "page_token: malformed") }
                return value
            }
            let now = clock.nowMs()
            return try await store.read { db in
                let settings = try LeadSettingsValues.load(db)
                let (visibility, visibilityArguments) = LeadVisibility.sql(caller)
                var conditions = [visibility]
                var arguments = visibilityArguments
                func add(_ condition: String, _ values: [any DatabaseValueConvertible]) {
                    conditions.append(condition)
                    arguments += StatementArguments(values)
                }
                if !request.ownerId.isEmpty { add("owner_id = ?", [request.ownerId]) }
                if !request.teamId.isEmpty { add("team_id = ?", [request.teamId]) }
                if !request.statuses.isEmpty {
                    let numbers = request.statuses.map(\.rawValue)
                    add("status IN (\(numbers.map { _ in "?" }.joined(separator: ",")))", numbers)
                }
                if !request.sources.isEmpty {
                    let numbers = request.sources.map(\.rawValue)
                    add("source IN (\(numbers.map { _ in "?" }.joined(separator: ",")))", numbers)
                }
                if !request.region.isEmpty { add("region = ? COLLATE NOCASE", [request.region]) }
                if !request.industry.isEmpty { add("industry = ? COLLATE NOCASE", [request.industry]) }
                if request.poolOnly { add("status = 1 AND owner_id = ''", []) }
                if request.atRiskOnly {
                    add("status = 2 AND activation_deadline_ms <= ?", [now.addingClamped(settings.warningBeforeMs)])
                }
                if request.createdFromMs > 0 { add("created_at_ms >= ?", [request.createdFromMs]) }
                if request.createdToMs > 0 { add("created_at_ms < ?", [request.createdToMs]) }
                let query = request.query.trimmingCharacters(in: .whitespaces).lowercased()
                if !query.isEmpty {
                    add("""
                        (instr(lower(contact_name), ?) > 0 OR instr(lower(company), ?) > 0
                         OR instr(phone, ?) > 0 OR instr(email, ?) > 0)
                        """, [query, query, query, query])
                }
                if let cursor, let cursorCreated {
                    guard let cursorSeq = Int64(cursor[2]) else { throw RPCError(.invalidArgument, "page_token: malformed") }
                    add("(created_at_ms < ? OR (created_at_ms = ? AND rowid < ?))", [cursorCreated, cursorCreated, cursorSeq])
                }
                let sql = """
                    SELECT rowid AS seq, * FROM leads WHERE \(conditions.joined(separator: " AND "))
                    ORDER BY created_at_ms DESC, rowid DESC LIMIT ?
                    """
                arguments += [pageSize + 1]
                let (rows, next) = try Self.page(db, sql: sql, arguments: arguments, size: pageSize) { lead, seq in
                    PageToken.encode([fingerprint, String(lead.createdAtMs), String(seq)])
                }
                return Crm_Leads_V1_ListLeadsResponse(
                    leads: rows.map { $0.proto(now: now, warningBeforeMs: settings.warningBeforeMs) },
                    nextPageToken: next)
            }
        }
    }
}

extension LeadHandler {
    /// Runs a keyset page query selecting `rowid AS seq, *` with LIMIT size+1: the rows, and the
    /// token of the next page ("" on the last). rowid breaks ties in insertion order, so rows created
    /// in the same millisecond keep their order and later inserts never shift a walk.
    static func page(_ db: Database, sql: String, arguments: StatementArguments, size: Int,
                     token: (LeadRow, Int64) -> String) throws -> ([LeadRow], String) {
        var rows: [(LeadRow, Int64)] = []
        for row in try Row.fetchAll(db, sql: sql, arguments: arguments) {
            rows.append((try LeadRow(row: row), row["seq"]))
        }
        var next = ""
        if rows.count > size {
            rows.removeLast(rows.count - size)
            if let last = rows.last { next = token(last.0, last.1) }
        }
        return (rows.map(\.0), next)
    }
}

/// A stable fingerprint of a list request's filter, carried in page tokens so a token is only
/// accepted with the filter it was made for.
enum Fingerprint {
    static func of<M: ProtoMessage>(_ message: M) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in message.serializedBytes() { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        return String(hash, radix: 36)
    }
}
