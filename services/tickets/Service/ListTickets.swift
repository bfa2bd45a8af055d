import CRMProto
import GRDB
import ProtoWire
import RPCCore
import ServiceRuntime

/// ListTickets: visible tickets filtered by owner / team / customer / opportunity / kind / status /
/// priority / breach / due date, in a stable order (the sort key, then id) with cursor pagination.
extension TicketService {
    func listTickets(_ request: Crm_Tickets_V1_ListTicketsRequest, context: ServerContext) async throws
        -> Crm_Tickets_V1_ListTicketsResponse {
        let caller = try Caller(context: context)
        var errors = FieldErrors()
        for (field, value) in [("owner_id", request.ownerId), ("team_id", request.teamId),
                               ("customer_id", request.customerId), ("opportunity_id", request.opportunityId)] {
            errors.checkID(field, value)
        }
        Self.checkEnums("kinds", request.kinds, &errors)
        Self.checkEnums("statuses", request.statuses, &errors)
        Self.checkEnums("priorities", request.priorities, &errors)
        errors.checkInstant("due_before_ms", request.dueBeforeMs)
        let column: String
        switch request.sort {
        case .unspecified, .createdAt: column = "created_at_ms"
        case .due: column = "due_ms"
        case .priority: column = "priority"
        case .updatedAt: column = "updated_at_ms"
        case .unrecognized: column = "created_at_ms"; errors.add("sort", "must be CREATED_AT, DUE, PRIORITY or UPDATED_AT")
        }
        if request.pageSize < 0 { errors.add("page_size", "must not be negative") }
        try errors.throwIfAny()
        let pageSize = try PageToken.pageSize(request.pageSize)
        let order = "\(request.sort.rawValue)/\(request.descending ? "desc" : "asc")"
        var after: (value: Int64, id: String)?
        if let parts = try PageToken.decode(request.pageToken, parts: 3) {
            guard parts[0] == order, let value = Int64(parts[1]) else {
                throw RPCError(.invalidArgument, "page_token: malformed or issued for another sort order")
            }
            after = (value, parts[2])
        }

        let now = clock.nowMs()
        var query = TicketQuery(caller: caller)
        query.equal("owner_id", request.ownerId)
        query.equal("team_id", request.teamId)
        query.equal("customer_id", request.customerId)
        query.equal("opportunity_id", request.opportunityId)
        query.among("kind", request.kinds.map(\.rawValue))
        query.among("status", request.statuses.map(\.rawValue))
        query.among("priority", request.priorities.map(\.rawValue))
        if request.breachedOnly { query.add(SlaClock.breachedSQL, [now, now]) }
        if request.dueBeforeMs > 0 { query.add("due_ms > 0 AND due_ms < ?", [request.dueBeforeMs]) }
        let direction = request.descending ? "DESC" : "ASC", comparison = request.descending ? "<" : ">"
        if let after {
            query.add("(\(column) \(comparison) ? OR (\(column) = ? AND id \(comparison) ?))", [after.value, after.value, after.id])
        }
        let sql = "SELECT * FROM tickets WHERE \(query.whereClause) ORDER BY \(column) \(direction), id \(direction) LIMIT ?"
        let arguments = query.arguments + [pageSize + 1]
        let rows = try await read { db in try TicketRecord.fetchAll(db, sql: sql, arguments: arguments) }
        var response = Crm_Tickets_V1_ListTicketsResponse(tickets: rows.prefix(pageSize).map { $0.proto(at: now) })
        if rows.count > pageSize, let last = rows.prefix(pageSize).last {
            let value: Int64 = switch column {
            case "due_ms": last.dueMs
            case "priority": Int64(last.priority.rawValue)
            case "updated_at_ms": last.updatedAtMs
            default: last.createdAtMs
            }
            response.nextPageToken = PageToken.encode([order, String(value), last.id])
        }
        return response
    }

    static func checkEnums<E: ProtoEnum>(_ field: String, _ values: [E], _ errors: inout FieldErrors) {
        for (i, value) in values.enumerated() where !TicketFields.isKnown(value) {
            errors.add("\(field)[\(i)]", "unknown value \(value.rawValue)")
        }
        if values.count > 50 { errors.add(field, "at most 50 values") }
    }
}

/// A WHERE clause built from fixed fragments; every value is a bound argument.
struct TicketQuery {
    private var clauses: [String]
    private(set) var arguments: StatementArguments

    init(caller: Caller) {
        let visibility = Visibility.sqlFilter(for: caller)
        clauses = [visibility.sql]
        arguments = visibility.arguments
    }

    mutating func add(_ clause: String, _ values: StatementArguments = []) {
        clauses.append(clause)
        arguments += values
    }

    mutating func equal(_ column: String, _ value: String) {
        let trimmed = TicketFields.trimmed(value)
        if !trimmed.isEmpty { add("\(column) = ?", [trimmed]) }
    }

    mutating func among(_ column: String, _ values: [Int32]) {
        guard !values.isEmpty else { return }
        let marks = Array(repeating: "?", count: values.count).joined(separator: ", ")
        add("\(column) IN (\(marks))", StatementArguments(values))
    }

    var whereClause: String { clauses.joined(separator: " AND ") }
}
