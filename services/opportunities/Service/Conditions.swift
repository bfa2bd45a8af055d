import GRDB

/// A WHERE clause assembled from fixed SQL fragments with bound arguments. Input only ever travels
/// as arguments; the fragments are constants of this service (and placeholder counts).
struct Conditions {
    private(set) var parts: [String] = []
    private(set) var arguments = StatementArguments()

    mutating func add(_ sql: String, _ values: StatementArguments = []) {
        parts.append(sql)
        arguments += values
    }

    mutating func add(_ condition: (sql: String, arguments: StatementArguments)) {
        add(condition.sql, condition.arguments)
    }

    /// `column IN (?, ?, …)` for a non-empty list; nothing for an empty one (no filter).
    mutating func addIn(_ column: String, _ values: [Int32]) {
        guard !values.isEmpty else { return }
        add("\(column) IN (\(Array(repeating: "?", count: values.count).joined(separator: ", ")))",
            StatementArguments(values))
    }

    var sql: String { parts.isEmpty ? "1" : parts.joined(separator: " AND ") }
}
