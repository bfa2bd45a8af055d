import CRMProto
import GRDB
import RPCCore
import ServiceRuntime

extension CustomerHandler {
    /// ListTimeline: the customer's own changes and the interactions received from other services,
    /// newest first, keyset-paginated on (at_ms, seq).
    func listTimeline(_ request: Crm_Customers_V1_ListTimelineRequest, context: ServerContext) async throws
        -> Crm_Customers_V1_ListTimelineResponse {
        let caller = try Access.caller(context)
        var errors = FieldErrors()
        let customerID = errors.identifier("customer_id", request.customerId)
        for (i, kind) in request.kinds.enumerated() { errors.known("kinds[\(i)]", kind, allowUnspecified: false) }
        if request.pageSize < 0 { errors.add("page_size", "must not be negative") }
        if request.sinceMs != 0, request.untilMs != 0, request.sinceMs > request.untilMs {
            errors.add("since_ms", "must not be after until_ms")
        }
        try errors.throwIfAny()
        let pageSize = request.pageSize == 0 ? 50 : min(Int(request.pageSize), 500)
        var conditions = ["customer_id = ?"]
        var values: [(any DatabaseValueConvertible)?] = [customerID]
        if !request.kinds.isEmpty {
            let kinds = Array(Set(request.kinds.map(\.rawValue)))
            conditions.append("kind IN (\(kinds.map { _ in "?" }.joined(separator: ", ")))")
            values.append(contentsOf: kinds.map { $0 as (any DatabaseValueConvertible)? })
        }
        if request.sinceMs != 0 { conditions.append("at_ms >= ?"); values.append(request.sinceMs) }
        if request.untilMs != 0 { conditions.append("at_ms <= ?"); values.append(request.untilMs) }
        if let parts = try PageToken.decode(request.pageToken, parts: 2) {
            guard let at = Int64(parts[0]), let seq = Int64(parts[1]) else {
                throw RPCError(.invalidArgument, "page_token: malformed")
            }
            conditions.append("(at_ms, seq) < (?, ?)")
            values.append(contentsOf: [at, seq])
        }
        values.append(pageSize + 1)
        let sql = "SELECT * FROM timeline WHERE \(conditions.joined(separator: " AND ")) ORDER BY at_ms DESC, seq DESC LIMIT ?"
        let arguments = StatementArguments(values)
        return try await read { db in
            _ = try Access.visibleCustomer(db, id: customerID, caller: caller)
            let rows = try Row.fetchAll(db, sql: sql, arguments: arguments)
            var response = Crm_Customers_V1_ListTimelineResponse()
            response.entries = rows.prefix(pageSize).map(Audit.timelineEntry(row:))
            if rows.count > pageSize, let last = rows.prefix(pageSize).last {
                response.nextPageToken = PageToken.encode([String(last["at_ms"] as Int64), String(last["seq"] as Int64)])
            }
            return response
        }
    }
}
