import Foundation
import GRDB

/// A piece of SQL with its bound values. Column names only ever come from code in this service; every
/// value is bound.
struct SQLPart: Sendable {
    var sql: String
    var values: [DatabaseValue] = []

    init(_ sql: String, _ values: [any DatabaseValueConvertible] = []) {
        self.sql = sql
        self.values = values.map(\.databaseValue)
    }
}

/// A filter that is a set of customers (a tag, a collaborator, a name search, the churn-risk flag).
///
/// How to run it depends on its size, which only the data knows: a small set is best used to drive
/// the query (look its members up, sort a few rows), a large one as a cheap per-row check during the
/// ordered index scan (which then finds a page within a few thousand rows). Reading at most
/// `driveLimit` members decides, and those members are the driving list.
enum MembershipFilter: Sendable {
    case tag(String)
    case collaborator(String)
    /// Substring of the normalised name, 3+ characters: trigram index, then an exact LIKE check.
    case nameContains(String)
    /// 1–2 characters: the name starts with it (an index range on the normalised name).
    case namePrefix(String)
    case churnRisk

    /// Sets up to this size drive the query; larger sets are checked row by row.
    static let driveLimit = 2000

    /// The members' keys when there are fewer than `driveLimit` of them (one cheap index range or
    /// trigram match), nil for a large set.
    func smallMembership(_ db: Database) throws -> [DatabaseValue]? {
        let members: SQLPart
        switch self {
        case .tag(let tag): members = SQLPart("SELECT customer_id FROM customer_tags WHERE tag = ?", [tag])
        case .collaborator(let user): members = SQLPart("SELECT customer_id FROM customer_collaborators WHERE user_id = ?", [user])
        case .nameContains(let text):
            members = SQLPart("SELECT rowid FROM customer_name_fts WHERE customer_name_fts MATCH ?", [Self.trigramQuery(text)])
        case .namePrefix(let text): members = SQLPart("SELECT seq FROM customers WHERE name_search >= ? AND name_search < ?", Self.prefixRange(text))
        case .churnRisk: members = SQLPart("SELECT seq FROM customers WHERE churn_risk = 1")
        }
        let keys = try DatabaseValue.fetchAll(db, sql: "\(members.sql) LIMIT ?",
                                              arguments: StatementArguments(members.values + [Self.driveLimit.databaseValue]))
        return keys.count < Self.driveLimit ? keys : nil
    }

    /// The condition that lets a small set drive the query: its members, looked up by key. The keys
    /// travel as one JSON array parameter, so the statement text stays the same whatever the set.
    func driving(_ keys: [DatabaseValue]) -> SQLPart {
        let members = "(SELECT value FROM json_each(?))"
        let list = Self.jsonArray(keys)
        switch self {
        case .tag, .collaborator:
            return SQLPart("id IN \(members)", [list])
        case .nameContains(let text):
            return SQLPart("seq IN \(members) AND name_search LIKE ? ESCAPE '\\'", [list, Self.likePattern(text)])
        case .namePrefix, .churnRisk:
            return SQLPart("seq IN \(members)", [list])
        }
    }

    /// Keys (text ids or integer row ids) as a JSON array.
    static func jsonArray(_ keys: [DatabaseValue]) -> String {
        var json = "["
        for (i, key) in keys.enumerated() {
            if i > 0 { json += "," }
            switch key.storage {
            case .int64(let n): json += String(n)
            case .string(let text): json += jsonString(text)
            default: json += "null"
            }
        }
        return json + "]"
    }

    static func jsonString(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case _ where scalar.value < 0x20: out += String(format: "\\u%04x", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    /// The same condition as a per-row check that cannot drive (so the ordered index scan stays in charge).
    var checking: SQLPart {
        switch self {
        case .tag(let tag):
            SQLPart("EXISTS (SELECT 1 FROM customer_tags t WHERE t.tag = ? AND t.customer_id = customers.id)", [tag])
        case .collaborator(let user):
            SQLPart("EXISTS (SELECT 1 FROM customer_collaborators k WHERE k.user_id = ? AND k.customer_id = customers.id)", [user])
        case .nameContains(let text): SQLPart("+name_search LIKE ? ESCAPE '\\'", [Self.likePattern(text)])
        case .namePrefix(let text): SQLPart("+name_search >= ? AND +name_search < ?", Self.prefixRange(text))
        case .churnRisk: SQLPart("+churn_risk = 1")
        }
    }

    /// Every trigram of the text, AND-ed: the candidates (an exact LIKE confirms them). Cheaper than a
    /// phrase query, which would also compare token positions across long doclists.
    static func trigramQuery(_ text: String) -> String {
        let characters = Array(text)
        var seen = Set<String>(), terms: [String] = []
        for start in 0...(characters.count - 3) {
            let gram = String(characters[start..<start + 3])
            if seen.insert(gram).inserted { terms.append("\"" + gram.replacingOccurrences(of: "\"", with: "\"\"") + "\"") }
        }
        return terms.joined(separator: " AND ")
    }

    static func likePattern(_ text: String) -> String {
        "%" + text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "%", with: "\\%")
            .replacingOccurrences(of: "_", with: "\\_") + "%"
    }

    /// [text, text + the highest code point): every string starting with `text`, in binary order.
    static func prefixRange(_ text: String) -> [any DatabaseValueConvertible] { [text, text + "\u{10FFFF}"] }
}
