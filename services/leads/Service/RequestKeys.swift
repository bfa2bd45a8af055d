import Foundation
import GRDB
import ProtoWire
import RPCCore

/// `request_id` idempotency (SUITE.md: a repeat returns the first result and creates nothing new),
/// with the semantics and table of ServiceRuntime's `Idempotency` — same columns, same FNV-1a request
/// fingerprint — but through cached prepared statements: bulk intake checks and records a key per row,
/// and re-compiling those statements dominated a 10,000-row call.
enum RequestKeys {
    static func run<Request: ProtoMessage, Response: ProtoMessage>(
        _ db: Database, scope: String, requestID: String, request: Request, nowMs: Int64,
        create: () throws -> Response
    ) throws -> (response: Response, replayed: Bool) {
        guard !requestID.isEmpty else { return (try create(), false) }
        let hash = Int64(bitPattern: fingerprint(request.serializedBytes()))
        if let row = try Row.fetchOne(db.cachedStatement(sql: """
            SELECT request_hash, response FROM idempotency WHERE scope = ? AND request_id = ?
            """), arguments: [scope, requestID]) {
            guard row["request_hash"] as Int64 == hash else {
                throw RPCError(.failedPrecondition, "request_id: '\(requestID)' was already used for a different request")
            }
            return (try Response(serializedBytes: Array(row["response"] as Data)), true)
        }
        let response = try create()
        try db.cachedStatement(sql: """
            INSERT INTO idempotency (scope, request_id, request_hash, response, created_ms) VALUES (?, ?, ?, ?, ?)
            """).execute(arguments: [scope, requestID, hash, Data(response.serializedBytes()), nowMs])
        return (response, false)
    }

    /// The stored first response for a key, if any (dry runs and replays that must not create).
    static func stored<Response: ProtoMessage>(_ db: Database, scope: String, requestID: String,
                                               as type: Response.Type) throws -> Response? {
        guard !requestID.isEmpty, let bytes = try Data.fetchOne(db.cachedStatement(sql: """
            SELECT response FROM idempotency WHERE scope = ? AND request_id = ?
            """), arguments: [scope, requestID]) else { return nil }
        return try Response(serializedBytes: Array(bytes))
    }

    /// FNV-1a, exactly as ServiceRuntime's Idempotency computes it.
    static func fingerprint(_ bytes: [UInt8]) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in bytes { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        return hash
    }
}
