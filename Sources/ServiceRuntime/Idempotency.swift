import Foundation
import CRMStore
import GRDB
import ProtoWire
import RPCCore

/// "A call that creates something takes an idempotency key (`request_id`); repeating it returns the
/// first result and creates nothing new" (SUITE.md). The first response is stored in the same
/// transaction as the change, so a replay can never see a half-done create.
public enum Idempotency {
    /// Add to a service's migrations (any version number that fits its sequence).
    public static func createTable(_ db: Database) throws {
        try db.execute(sql: """
            CREATE TABLE idempotency (
                scope TEXT NOT NULL,
                request_id TEXT NOT NULL,
                request_hash INTEGER NOT NULL,
                response BLOB NOT NULL,
                created_ms INTEGER NOT NULL,
                PRIMARY KEY (scope, request_id)
            ) WITHOUT ROWID
            """)
    }

    /// Runs `create` once per (`scope`, `requestID`); a repeat returns the stored response with
    /// `replayed` true. Reusing a key for a different request is FAILED_PRECONDITION.
    /// An empty `requestID` means the caller opted out: `create` always runs.
    public static func run<Request: ProtoMessage, Response: ProtoMessage>(
        _ db: Database, scope: String, requestID: String, request: Request, nowMs: Int64,
        create: () throws -> Response
    ) throws -> (response: Response, replayed: Bool) {
        guard !requestID.isEmpty else { return (try create(), false) }
        let hash = Int64(bitPattern: fingerprint(request.serializedBytes()))
        let lookup = try db.cachedStatement(sql: "SELECT request_hash, response FROM idempotency WHERE scope = ? AND request_id = ?")
        if let row = try Row.fetchOne(lookup, arguments: [scope, requestID]) {
            guard row["request_hash"] as Int64 == hash else {
                throw RPCError(.failedPrecondition, "request_id: '\(requestID)' was already used for a different request")
            }
            let bytes: [UInt8] = Array(row["response"] as Data)
            return (try Response(serializedBytes: bytes), true)
        }
        let response = try create()
        try db.cachedStatement(sql: "INSERT INTO idempotency (scope, request_id, request_hash, response, created_ms) VALUES (?, ?, ?, ?, ?)")
            .execute(arguments: [scope, requestID, hash, Data(response.serializedBytes()), nowMs])
        return (response, false)
    }

    /// FNV-1a: a cheap, stable fingerprint to notice a key reused for different content.
    static func fingerprint(_ bytes: [UInt8]) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in bytes { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        return hash
    }
}
