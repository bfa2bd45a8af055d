import CRMProto
import GRDB
import ProtoWire
import RPCCore
import ServiceRuntime

extension OpportunityService {
    /// Opportunities by owner / team / customer / stage / status / close-date window / amount / risk /
    /// text, in a stable order (the sort key, then id), a page at a time.
    public func listOpportunities(_ request: Crm_Opportunities_V1_ListOpportunitiesRequest, context: ServerContext) async throws
        -> Crm_Opportunities_V1_ListOpportunitiesResponse {
        try await guarded {
            let caller = try Access.userOrSystem(context)
            let pageSize = try PageToken.pageSize(request.pageSize)
            let sort = try ListSort(request.sort)
            var errors = FieldErrors()
            for (field, date) in [("close_date_from", request.closeDateFrom), ("close_date_to", request.closeDateTo)]
            where !date.isEmpty && CivilDate(parsing: date) == nil {
                errors.add(field, "not a date (YYYY-MM-DD): '\(date)'")
            }
            if request.query.count > 200 { errors.add("query", "at most 200 characters") }
            Self.rejectUnknown(request.stages, "stages", into: &errors)
            Self.rejectUnknown(request.statuses, "statuses", into: &errors)
            Self.rejectUnknown(request.riskLevels, "risk_levels", into: &errors)
            try errors.throwIfAny()
            let cursor = try PageToken.decode(request.pageToken, parts: 2)
            if let cursor, !sort.isText, Int64(cursor[0]) == nil { throw RPCError(.invalidArgument, "page_token: malformed") }
            let now = clock.nowMs()

            return try await store.read { db in
                var conditions = Conditions()
                conditions.add(Access.visibilityCondition(caller, alias: "o"))
                if !request.ownerId.isEmpty { conditions.add("o.owner_id = ?", [request.ownerId]) }
                if !request.teamId.isEmpty { conditions.add("o.team_id = ?", [request.teamId]) }
                if !request.customerId.isEmpty { conditions.add("o.customer_id = ?", [request.customerId]) }
                conditions.addIn("o.stage", request.stages.map(\.rawValue))
                conditions.addIn("o.status", request.statuses.map(\.rawValue))
                conditions.addIn("o.risk_level", request.riskLevels.map(\.rawValue))
                if !request.closeDateFrom.isEmpty { conditions.add("o.close_date >= ?", [request.closeDateFrom]) }
                if !request.closeDateTo.isEmpty { conditions.add("o.close_date <= ?", [request.closeDateTo]) }
                if request.minAmountCents > 0 { conditions.add("o.amount_cents >= ?", [request.minAmountCents]) }
                if request.updatedSinceMs > 0 { conditions.add("o.updated_at_ms >= ?", [request.updatedSinceMs]) }
                if !request.query.isBlank {
                    let pattern = "%" + Self.escapeLike(request.query.trimmed) + "%"
                    conditions.add("(o.title LIKE ? ESCAPE '\\' OR o.customer_name LIKE ? ESCAPE '\\')", [pattern, pattern])
                }
                if let cursor {
                    let value: any DatabaseValueConvertible = sort.isText ? cursor[0] : Int64(cursor[0])!
                    let op = request.descending ? "<" : ">"
                    conditions.add("(\(sort.column) \(op) ? OR (\(sort.column) = ? AND o.id \(op) ?))", [value, value, cursor[1]])
                }
                let direction = request.descending ? "DESC" : "ASC"
                let rows = try Row.fetchAll(db, sql: """
                    SELECT o.record, \(sort.column) AS sort_key FROM opportunities o WHERE \(conditions.sql)
                    ORDER BY \(sort.column) \(direction), o.id \(direction) LIMIT ?
                    """, arguments: conditions.arguments + [pageSize + 1])
                let page = try rows.prefix(pageSize).map { row in
                    (key: (row["sort_key"] as DatabaseValue).description(asText: sort.isText),
                     opportunity: OpportunityWrite.presented(try decode(Opportunity.self, row), now: now))
                }
                let next = rows.count > pageSize ? page.last.map { PageToken.encode([$0.key, $0.opportunity.id]) } : nil
                return .init(opportunities: page.map(\.opportunity), nextPageToken: next ?? "")
            }
        }
    }

    static func rejectUnknown<E: ProtoEnum>(_ values: [E], _ field: String, into errors: inout FieldErrors) {
        for value in values where !E.allCases.contains(value) {
            errors.add(field, "unknown value \(value.rawValue)")
        }
    }

    /// Escapes LIKE wildcards so a search for "50%" finds "50%", not everything.
    static func escapeLike(_ text: String) -> String {
        var escaped = ""
        for character in text {
            if character == "%" || character == "_" || character == "\\" { escaped.append("\\") }
            escaped.append(character)
        }
        return escaped
    }
}

/// ListOpportunities' sort keys (columns are constants; id is always the last key).
struct ListSort {
    let column: String
    let isText: Bool

    init(_ sort: Crm_Opportunities_V1_OpportunitySort) throws {
        switch sort {
        case .unspecified, .createdAt: (column, isText) = ("o.created_at_ms", false)
        case .expectedClose: (column, isText) = ("o.close_date", true)
        case .amount: (column, isText) = ("o.amount_cents", false)
        case .updatedAt: (column, isText) = ("o.updated_at_ms", false)
        case .lastFollowUp: (column, isText) = ("o.last_follow_up_at_ms", false)
        case .unrecognized(let n): throw RPCError(.invalidArgument, "sort: unknown value \(n)")
        }
    }
}

extension DatabaseValue {
    /// The cursor text of a sort key.
    func description(asText: Bool) -> String {
        switch storage {
        case .int64(let value): String(value)
        case .string(let value): value
        case .double(let value): String(value)
        default: ""
        }
    }
}
