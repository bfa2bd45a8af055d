import CRMProto
import Foundation
import GRDB
import RPCCore
import ServiceRuntime

/// Source analytics (line 1 ROI) and the marketing spend that is its cost side.
extension LeadHandler {
    public func sourceReport(_ request: Crm_Leads_V1_SourceReportRequest, context: ServerContext) async throws
        -> Crm_Leads_V1_SourceReportResponse {
        try await guarded {
            let caller = try caller(context)
            var errors = FieldErrors()
            if request.fromMs < 0 { errors.add("from_ms", "must not be negative") }
            if request.toMs < 0 { errors.add("to_ms", "must not be negative") }
            if request.toMs > 0 && request.toMs <= request.fromMs { errors.add("to_ms", "must be after from_ms") }
            if case .unrecognized(let n) = request.granularity { errors.add("granularity", "unknown value \(n)") }
            let requestedCurrency = request.currency.trimmingCharacters(in: .whitespaces).uppercased()
            if !requestedCurrency.isEmpty && requestedCurrency.count != 3 {
                errors.add("currency", "not an ISO 4217 code (e.g. EUR)")
            }
            try errors.throwIfAny()
            if caller.role == .rep && !request.ownerId.isEmpty && request.ownerId != caller.userID {
                throw RPCError(.permissionDenied, "owner_id: a rep reports on own leads only")
            }
            if caller.role == .manager && !request.teamId.isEmpty && request.teamId != caller.team {
                throw RPCError(.permissionDenied, "team_id: a manager reports on own team \(caller.team) only")
            }
            let now = clock.nowMs()
            return try await store.read { db in
                var conditions: [String] = []
                var arguments = StatementArguments()
                switch caller.role {
                case .admin: break
                case .manager:
                    conditions.append("(l.owner_id = ? OR (l.team_id = ? AND l.team_id <> ''))")
                    arguments += [caller.userID, caller.team]
                case .rep:
                    conditions.append("l.owner_id = ?")
                    arguments += [caller.userID]
                }
                if request.fromMs > 0 {
                    conditions.append("l.created_at_ms >= ?")
                    arguments += [request.fromMs]
                }
                if request.toMs > 0 {
                    conditions.append("l.created_at_ms < ?")
                    arguments += [request.toMs]
                }
                if !request.sources.isEmpty {
                    let numbers = request.sources.map(\.rawValue)
                    conditions.append("l.source IN (\(numbers.map { _ in "?" }.joined(separator: ",")))")
                    arguments += StatementArguments(numbers)
                }
                if !request.teamId.isEmpty {
                    conditions.append("l.team_id = ?")
                    arguments += [request.teamId]
                }
                if !request.ownerId.isEmpty {
                    conditions.append("l.owner_id = ?")
                    arguments += [request.ownerId]
                }
                let whereClause = conditions.isEmpty ? "1" : conditions.joined(separator: " AND ")
                var wins: [String: [(amount: Int64, currency: String)]] = [:]
                var currencyVotes: [String: Int] = [:]
                for row in try Row.fetchAll(db, sql: """
                    SELECT w.lead_id, w.amount_cents, w.currency FROM lead_wins w JOIN leads l ON l.id = w.lead_id
                    WHERE \(whereClause)
                    """, arguments: arguments) {
                    let currency: String = row["currency"]
                    wins[row["lead_id"], default: []].append((row["amount_cents"], currency))
                    currencyVotes[currency, default: 0] += 1
                }
                let leads = try Row.fetchAll(db, sql: """
                    SELECT l.id, l.source, l.source_detail, l.created_at_ms, l.status, l.first_assigned_at_ms,
                           l.first_activated_at_ms, l.first_activation_delay_ms, l.first_activated_within_deadline,
                           l.disqualify_reason
                    FROM leads l WHERE \(whereClause)
                    """, arguments: arguments).map { row in
                    SourceReport.LeadFacts(
                        source: row["source"], detail: row["source_detail"], createdAtMs: row["created_at_ms"],
                        status: row["status"], assigned: (row["first_assigned_at_ms"] as Int64) > 0,
                        activated: (row["first_activated_at_ms"] as Int64) > 0,
                        activatedWithin: row["first_activated_within_deadline"],
                        activationDelayMs: row["first_activation_delay_ms"], disqualifyReason: row["disqualify_reason"],
                        wins: wins[row["id"]] ?? [])
                }
                var spend: [SourceReport.Spend] = []
                let fromMonth = request.fromMs > 0 ? CalendarDate.monthKey(ofMs: request.fromMs) : ""
                let toMonth = request.toMs > 0 ? CalendarDate.monthKey(ofMs: request.toMs - 1) : ""
                let sources = Set(request.sources.map(\.rawValue))
                for row in try Row.fetchAll(db, sql: "SELECT * FROM source_spend") {
                    let item = SourceReport.Spend(
                        source: row["source"], detail: row["source_detail"], month: row["month"],
                        amountCents: row["amount_cents"], currency: row["currency"])
                    if !fromMonth.isEmpty && item.month < fromMonth { continue }
                    if !toMonth.isEmpty && item.month > toMonth { continue }
                    if !sources.isEmpty && !sources.contains(item.source) { continue }
                    spend.append(item)
                    currencyVotes[item.currency, default: 0] += 1
                }
                let currency = !requestedCurrency.isEmpty ? requestedCurrency
                    : currencyVotes.max { ($0.value, $1.key) < ($1.value, $0.key) }?.key ?? "EUR"
                let (rows, total) = SourceReport.build(leads: leads, spend: spend, request: request, currency: currency)
                return Crm_Leads_V1_SourceReportResponse(rows: rows, total: total, currency: currency, generatedAtMs: now)
            }
        }
    }

    public func recordSourceSpend(_ request: Crm_Leads_V1_RecordSourceSpendRequest, context: ServerContext) async throws
        -> Crm_Leads_V1_RecordSourceSpendResponse {
        try await guarded {
            let caller = try caller(context)
            try caller.requireManager("recording marketing spend")
            var errors = FieldErrors()
            switch request.source {
            case .unspecified: errors.add("source", "required")
            case .unrecognized(let n): errors.add("source", "unknown value \(n)")
            default: break
            }
            let detail = request.sourceDetail.trimmingCharacters(in: .whitespacesAndNewlines)
            errors.maxLength("source_detail", detail, 200)
            if CalendarDate.parseMonth(request.month) == nil { errors.add("month", "required as YYYY-MM") }
            if request.amountCents < 0 { errors.add("amount_cents", "must not be negative") }
            let currency = request.currency.trimmingCharacters(in: .whitespaces)
            if currency.count != 3 || !currency.unicodeScalars.allSatisfy({ ("A"..."Z").contains($0) }) {
                errors.add("currency", "required as an ISO 4217 code (e.g. EUR)")
            }
            errors.maxLength("note", request.note, 1000)
            errors.maxLength("request_id", request.requestId, 200)
            try errors.throwIfAny()
            let now = clock.nowMs()
            return try await store.write { db in
                try RequestKeys.run(db, scope: "RecordSourceSpend", requestID: request.requestId, request: request,
                                    nowMs: now) { () throws -> Crm_Leads_V1_RecordSourceSpendResponse in
                    try db.execute(sql: """
                        INSERT INTO source_spend (source, source_detail, month, amount_cents, currency, note, recorded_by, recorded_at_ms)
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                        ON CONFLICT (source, source_detail, month) DO UPDATE SET
                            amount_cents = excluded.amount_cents, currency = excluded.currency, note = excluded.note,
                            recorded_by = excluded.recorded_by, recorded_at_ms = excluded.recorded_at_ms
                        """, arguments: [request.source.rawValue, detail, request.month, request.amountCents, currency,
                                         request.note, caller.userID, now])
                    return Crm_Leads_V1_RecordSourceSpendResponse(
                        source: request.source, sourceDetail: detail, month: request.month,
                        amountCents: request.amountCents, currency: currency, recordedAtMs: now)
                }.response
            }
        }
    }
}
