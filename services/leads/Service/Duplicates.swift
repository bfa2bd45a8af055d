import CRMProto
import GRDB
import RPCCore

/// An open lead with the same normalised phone or email (duplicate detection at intake).
struct DuplicateLead: Error, Sendable {
    var leadID: String
    var field: String
    var value: String

    var message: String { "duplicate of open lead \(leadID) (same \(field) \(value)); set force with force_reason to create it anyway" }
    var rpcError: RPCError { RPCError(.alreadyExists, "lead: \(message)") }
}

enum Duplicates {
    /// The oldest open lead sharing the phone or email, if any (partial indexes on open leads).
    static func findOpen(_ db: Database, phone: String, email: String) throws -> DuplicateLead? {
        if !phone.isEmpty, let id = try String.fetchOne(db.cachedStatement(sql: """
            SELECT id FROM leads
            WHERE phone = ? AND phone <> '' AND status IN (1, 2, 3, 4) ORDER BY created_at_ms, id LIMIT 1
            """), arguments: [phone]) {
            return DuplicateLead(leadID: id, field: "phone", value: phone)
        }
        if !email.isEmpty, let id = try String.fetchOne(db.cachedStatement(sql: """
            SELECT id FROM leads
            WHERE email = ? AND email <> '' AND status IN (1, 2, 3, 4) ORDER BY created_at_ms, id LIMIT 1
            """), arguments: [email]) {
            return DuplicateLead(leadID: id, field: "email", value: email)
        }
        return nil
    }
}
