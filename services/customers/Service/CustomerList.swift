import CRMProto
import Foundation
import GRDB
import RPCCore
import ServiceRuntime

extension CustomerHandler {
    /// ListCustomers: AND-combined filters, visibility, and keyset pagination on (sort key, id), so
    /// concurrent inserts and edits never duplicate or skip rows across pages of one order.
    func listCustomers(_ request: Crm_Customers_V1_ListCustomersRequest, context: ServerContext) async throws
        -> Crm_Customers_V1_ListCustomersResponse {
        let caller = try Access.caller(context)
        let query = try CustomerListQuery(request)
        let visibility = CustomerListQuery.visibilityBranches(caller)
        return try await read { db in
            let rows = try query.fetch(db, branches: visibility)
            var response = Crm_Customers_V1_ListCustomersResponse()
            for row in rows.prefix(query.pageSize) { response.customers.append(StoredCustomer(row: row).customer) }
            if rows.count > query.pageSize, let last = response.customers.last {
                response.nextPageToken = query.token(after: last)
            }
            return response
        }
    }
}

/// One ListCustomers page as SQL: validated filters, the sort and its cursor.
struct CustomerListQuery: Sendable {
    let sort: Crm_Customers_V1_CustomerSort
    let descending: Bool
    let pageSize: Int
    private let sortColumn: String
    private let sortIsText: Bool
    private var conditions: [SQLPart] = []
    private var memberships: [MembershipFilter] = []

    init(_ request: Crm_Customers_V1_ListCustomersRequest) throws {
        var errors = FieldErrors()
        if request.pageSize < 0 { errors.add("page_size", "must not be negative") }
        pageSize = request.pageSize <= 0 ? 50 : min(Int(request.pageSize), 500)
        errors.known("sort", request.sort)
        sort = request.sort == .unspecified ? .createdAt : request.sort
        descending = request.descending
        switch sort {
        case .name: (sortColumn, sortIsText) = ("name_search", true)
        case .updatedAt: (sortColumn, sortIsText) = ("updated_at_ms", false)
        case .lastActivity: (sortColumn, sortIsText) = ("last_activity_at_ms", false)
        default: (sortColumn, sortIsText) = ("created_at_ms", false)
        }

        let owner = errors.identifier("owner_id", request.ownerId, required: false)
        if !owner.isEmpty { conditions.append(SQLPart("owner_id = ?", [owner])) }
        let team = errors.identifier("team_id", request.teamId, required: false)
        if !team.isEmpty { conditions.append(SQLPart("team_id = ?", [team])) }
        let collaborator = errors.identifier("collaborator_id", request.collaboratorId, required: false)
        if !collaborator.isEmpty { memberships.append(.collaborator(collaborator)) }
        if !request.grades.isEmpty {
            for (i, grade) in request.grades.enumerated() { errors.known("grades[\(i)]", grade, allowUnspecified: false) }
            conditions.append(Self.oneOf("grade", Set(request.grades.map(\.rawValue))))
        }
        if !request.statuses.isEmpty {
            for (i, status) in request.statuses.enumerated() { errors.known("statuses[\(i)]", status, allowUnspecified: false) }
            conditions.append(Self.oneOf("lifecycle_status", Set(request.statuses.map(\.rawValue))))
        }
        if let key = request.key {
            conditions.append(SQLPart(key ? "grade = ?" : "grade != ?", [CustomerGrade.key.rawValue]))
        }
        let region = errors.text("region", request.region, max: Limits.shortText)
        if !region.isEmpty { conditions.append(SQLPart("region = ?", [region])) }
        let industry = errors.text("industry", request.industry, max: Limits.shortText)
        if !industry.isEmpty { conditions.append(SQLPart("industry = ?", [industry])) }
        let tag = errors.text("tag", request.tag, max: Limits.tag)
        if !tag.isEmpty { memberships.append(.tag(tag)) }
        let text = NameKey.search(errors.text("query", request.query, max: Limits.name))
        if text.count >= 3 {
            memberships.append(.nameContains(text))
        } else if !text.isEmpty {
            memberships.append(.namePrefix(text))
        }
        if request.churnRiskOnly { memberships.append(.churnRisk) }
        if !request.includeArchived { conditions.append(SQLPart("archived = 0")) }
        if request.updatedSinceMs != 0 { conditions.append(SQLPart("updated_at_ms >= ?", [request.updatedSinceMs])) }

        if let parts = try PageToken.decode(request.pageToken, parts: 4) {
            guard parts[0] == String(sort.rawValue), parts[1] == (descending ? "d" : "a") else {
                throw RPCError(.invalidArgument, "page_token: was issued for a different sort order")
            }
            let value: any DatabaseValueConvertible
            if sortIsText {
                value = parts[2]
            } else {
                guard let number = Int64(parts[2]) else { throw RPCError(.invalidArgument, "page_token: malformed") }
                value = number
            }
            conditions.append(SQLPart("(\(sortColumn), id) \(descending ? "<" : ">") (?, ?)", [value, parts[3]]))
        }
        try errors.throwIfAny()
    }

    private static func oneOf(_ column: String, _ values: Set<Int32>) -> SQLPart {
        SQLPart("\(column) IN (\(values.map { _ in "?" }.joined(separator: ", ")))", values.sorted())
    }

    /// Who sees what, as separate index-friendly branches whose pages are merged: an admin everything;
    /// a rep what they own or collaborate on; a manager also the team's.
    static func visibilityBranches(_ caller: Caller) -> [SQLPart] {
        let collaborating = SQLPart("id IN (SELECT customer_id FROM customer_collaborators WHERE user_id = ?)", [caller.userID])
        switch caller.role {
        case .admin:
            return [SQLPart("1")]
        case .manager where !caller.team.isEmpty:
            return [SQLPart("team_id = ?", [caller.team]), SQLPart("owner_id = ?", [caller.userID]), collaborating]
        default:
            return [SQLPart("owner_id = ?", [caller.userID]), collaborating]
        }
    }

    /// Fetches up to pageSize + 1 rows (the extra one says whether there is a next page).
    ///
    /// Each visibility branch selects only (seq, sort key, id) in order with its own LIMIT, so every
    /// branch is an index range and sorting, if any, moves narrow rows; the merged page then reads
    /// the full rows of at most pageSize + 1 customers.
    func fetch(_ db: Database, branches: [SQLPart]) throws -> [Row] {
        // The smallest set under the limit drives; every other set is checked per row.
        var filters = conditions
        let small = try memberships.map { try $0.smallMembership(db) }
        let driver = small.indices.filter { small[$0] != nil }.min { small[$0]!.count < small[$1]!.count }
        for (index, membership) in memberships.enumerated() {
            if index == driver, let keys = small[index] {
                filters.append(membership.driving(keys))
            } else {
                filters.append(membership.checking)
            }
        }
        let direction = descending ? "DESC" : "ASC"
        let limit = (pageSize + 1).databaseValue
        var values: [DatabaseValue] = []
        var selects: [String] = []
        for branch in branches {
            let all = [branch] + filters
            selects.append("""
                SELECT * FROM (SELECT seq, \(sortColumn) AS sort_key, id FROM customers
                WHERE \(all.map(\.sql).joined(separator: " AND "))
                ORDER BY \(sortColumn) \(direction), id \(direction) LIMIT ?)
                """)
            values += all.flatMap(\.values) + [limit]
        }
        values.append(limit)
        let sql = """
            SELECT \(StoredCustomer.selection(alias: "c")) FROM (
                \(selects.joined(separator: " UNION "))
                ORDER BY sort_key \(direction), id \(direction) LIMIT ?
            ) AS page JOIN customers c ON c.seq = page.seq
            ORDER BY page.sort_key \(direction), page.id \(direction)
            """
        return try Row.fetchAll(db.cachedStatement(sql: sql), arguments: StatementArguments(values))
    }

    /// The next page token after `last`: the sort, its direction, the sort key and the id.
    func token(after last: Customer) -> String {
        let value: String
        switch sort {
        case .name: value = NameKey.search(last.name)
        case .updatedAt: value = String(last.updatedAtMs)
        case .lastActivity: value = String(last.lastActivityAtMs)
        default: value = String(last.createdAtMs)
        }
        return PageToken.encode([String(sort.rawValue), descending ? "d" : "a", value, last.id])
    }
}
