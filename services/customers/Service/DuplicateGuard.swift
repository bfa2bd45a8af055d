import CRMProto
import GRDB
import RPCCore

typealias DuplicateMatch = Crm_Customers_V1_DuplicateMatch

/// The duplicate guard: a new or renamed customer must not match an existing one on normalised name,
/// or on a phone/email of the customer or of any of its contacts. Customers are a company asset, so
/// the guard looks across all owners (and archived customers), not only what the caller sees.
enum DuplicateGuard {
    static let maxMatches = 20

    /// Existing customers matching any of the given facts (already normalised), `excluding` one customer.
    static func find(_ db: Database, name: String?, phones: [String], emails: [String],
                     excluding: String? = nil) throws -> [DuplicateMatch] {
        var matches: [DuplicateMatch] = []
        var seen = Set<String>()
        func add(_ row: Row, _ field: Crm_Customers_V1_DuplicateField, _ value: String, contactID: String = "") {
            let id: String = row["id"]
            guard id != excluding, seen.insert("\(id)|\(field.rawValue)|\(value)|\(contactID)").inserted,
                  matches.count < maxMatches else { return }
            matches.append(DuplicateMatch(customerId: id, customerName: row["name"], field: field,
                                          matchedValue: value, contactId: contactID))
        }
        if let name, !name.isEmpty {
            let key = NameKey.duplicateKey(name)
            if !key.isEmpty {
                for row in try Row.fetchAll(db, sql: "SELECT id, name FROM customers WHERE name_key = ? LIMIT ?",
                                            arguments: [key, maxMatches]) {
                    add(row, .name, name)
                }
            }
        }
        for (values, field, column) in [(phones, Crm_Customers_V1_DuplicateField.phone, "phone"),
                                        (emails, .email, "email")] {
            for value in Set(values) where !value.isEmpty {
                for row in try Row.fetchAll(db, sql: "SELECT id, name FROM customers WHERE \(column) = ? LIMIT ?",
                                            arguments: [value, maxMatches]) {
                    add(row, field, value)
                }
                for row in try Row.fetchAll(db, sql: """
                    SELECT c.id, c.name, k.id AS contact_id FROM contacts k JOIN customers c ON c.id = k.customer_id
                    WHERE k.\(column) = ? AND k.archived = 0 LIMIT ?
                    """, arguments: [value, maxMatches]) {
                    add(row, field, value, contactID: row["contact_id"])
                }
            }
        }
        return matches
    }

    /// ALREADY_EXISTS naming every match and how to override it.
    static func refusal(_ matches: [DuplicateMatch]) -> RPCError {
        let described = matches.map { match -> String in
            let what = match.field.protoName.replacingOccurrences(of: "DUPLICATE_FIELD_", with: "").lowercased()
            let via = match.contactId.isEmpty ? "" : " (contact \(match.contactId))"
            return "\(what) '\(match.matchedValue)' matches customer \(match.customerId) '\(match.customerName)'\(via)"
        }
        return RPCError(.alreadyExists, "duplicate customer: \(described.joined(separator: "; ")); set force with a force_reason to override")
    }
}
