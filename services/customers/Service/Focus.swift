import CRMProto
import GRDB
import RPCCore
import ServiceRuntime

extension CustomerHandler {
    /// ListFocus (R7, R8): an owner's morning list — key customers, customers gone dark (no recorded
    /// activity for dark_after_days) and churn-risk customers; key first, then longest silence first.
    func listFocus(_ request: Crm_Customers_V1_ListFocusRequest, context: ServerContext) async throws
        -> Crm_Customers_V1_ListFocusResponse {
        let caller = try Access.caller(context)
        var errors = FieldErrors()
        let ownerField = errors.identifier("owner_id", request.ownerId, required: false)
        if ownerField.isEmpty, caller.userID == Access.systemUser {
            errors.add("owner_id", "required when the call carries no user")
        }
        if !(0...3650).contains(request.darkAfterDays) {
            errors.add("dark_after_days", "must be 0 (configured) to 3650, got \(request.darkAfterDays)")
        }
        if request.pageSize < 0 { errors.add("page_size", "must not be negative") }
        try errors.throwIfAny()
        let owner = ownerField.isEmpty ? caller.userID : ownerField
        if caller.role == .rep, owner != caller.userID {
            throw RPCError(.permissionDenied, "owner_id: a rep sees only their own focus list, not \(owner)'s")
        }
        let pageSize = request.pageSize == 0 ? 50 : min(Int(request.pageSize), 500)
        var after: (key: Int64, lastActivity: Int64, id: String)?
        if let parts = try PageToken.decode(request.pageToken, parts: 3) {
            guard let key = Int64(parts[0]), let last = Int64(parts[1]) else {
                throw RPCError(.invalidArgument, "page_token: malformed")
            }
            after = (key, last, parts[2])
        }
        let now = clock.nowMs()
        let overrideDays = request.darkAfterDays
        let cursor = after
        return try await read { db in
            let days = overrideDays > 0 ? overrideDays : try SettingsStore.load(db).darkAfterDays
            let threshold = now - Int64(days) * Millis.day
            var conditions = [
                "owner_id = ?", "archived = 0",
                "(grade = ? OR churn_risk = 1 OR (last_activity_at_ms <= ? AND lifecycle_status != ?))",
            ]
            var values: [(any DatabaseValueConvertible)?] = [owner, CustomerGrade.key.rawValue, threshold,
                                                              LifecycleStatus.churned.rawValue]
            if caller.role == .manager {
                conditions.append("(team_id = ? OR owner_id = ? OR id IN (SELECT customer_id FROM customer_collaborators WHERE user_id = ?))")
                values.append(contentsOf: [caller.team.isEmpty ? "\u{0}" : caller.team, caller.userID, caller.userID])
            }
            if let cursor {
                conditions.append("((grade = ?) < ? OR ((grade = ?) = ? AND (last_activity_at_ms, id) > (?, ?)))")
                values.append(contentsOf: [CustomerGrade.key.rawValue, cursor.key, CustomerGrade.key.rawValue, cursor.key,
                                           cursor.lastActivity, cursor.id] as [(any DatabaseValueConvertible)?])
            }
            values.append(CustomerGrade.key.rawValue)
            values.append(pageSize + 1)
            let rows = try Row.fetchAll(db, sql: """
                SELECT \(StoredCustomer.selection) FROM customers WHERE \(conditions.joined(separator: " AND "))
                ORDER BY (grade = ?) DESC, last_activity_at_ms, id LIMIT ?
                """, arguments: StatementArguments(values))
            var response = Crm_Customers_V1_ListFocusResponse()
            for row in rows.prefix(pageSize) {
                let c = StoredCustomer(row: row).customer
                var reasons: [Crm_Customers_V1_FocusReason] = []
                if c.key { reasons.append(.keyCustomer) }
                if c.lastActivityAtMs <= threshold, c.lifecycleStatus != .churned { reasons.append(.goingDark) }
                if c.churnRisk { reasons.append(.churnRisk) }
                // Imported records may carry any timestamp: never trap on the subtraction.
                let silence = now.subtractingReportingOverflow(c.lastActivityAtMs)
                let days = silence.overflow ? 0 : max(0, silence.partialValue / Millis.day)
                response.customers.append(Crm_Customers_V1_FocusCustomer(
                    customer: c, reasons: reasons, daysSinceActivity: Int32(clamping: days),
                    nextAction: Lifecycle.nextAction(for: c.lifecycleStatus)))
            }
            if rows.count > pageSize, let last = response.customers.last?.customer {
                response.nextPageToken = PageToken.encode([last.key ? "1" : "0", String(last.lastActivityAtMs), last.id])
            }
            return response
        }
    }
}
