import Foundation
import GRDB
import GRDBSQLite

/// Parameter binding straight through SQLite's C API for the few statements on the event-ingest
/// hot path (the deal upsert, stage history, the inbox). GRDB's generic `StatementArguments` path
/// costs more than the insert itself when a producer catches up with 100,000 events; this keeps
/// the same prepared, cached statements and the same bound parameters (never SQL built from
/// input), only without the generic layer. Used only for statements no other code executes.
struct FastStatement {
    private let statement: Statement
    private let database: Database

    init(_ db: Database, sql: String) throws {
        database = db
        statement = try db.cachedStatement(sql: sql)
    }

    /// Binds the parameters in order and runs the statement to completion.
    func execute(_ bind: (inout Binder) -> Void) throws {
        let handle = statement.sqliteStatement
        sqlite3_reset(handle)
        sqlite3_clear_bindings(handle)
        var binder = Binder(handle: handle)
        bind(&binder)
        var code = sqlite3_step(handle)
        while code == SQLITE_ROW { code = sqlite3_step(handle) }
        let done = code == SQLITE_DONE
        sqlite3_reset(handle)
        guard done else { throw error(code) }
    }

    /// Binds the parameters and answers whether the query returns a row.
    func exists(_ bind: (inout Binder) -> Void) throws -> Bool {
        let handle = statement.sqliteStatement
        sqlite3_reset(handle)
        sqlite3_clear_bindings(handle)
        var binder = Binder(handle: handle)
        bind(&binder)
        let code = sqlite3_step(handle)
        sqlite3_reset(handle)
        guard code == SQLITE_ROW || code == SQLITE_DONE else { throw error(code) }
        return code == SQLITE_ROW
    }

    private func error(_ code: Int32) -> DatabaseError {
        DatabaseError(resultCode: ResultCode(rawValue: code),
                      message: String(cString: sqlite3_errmsg(database.sqliteConnection)), sql: statement.sql)
    }

    /// Binds parameters 1, 2, 3, … in call order.
    struct Binder {
        let handle: OpaquePointer
        private var index: Int32 = 0

        init(handle: OpaquePointer) { self.handle = handle }

        /// SQLite copies the bytes (SQLITE_TRANSIENT), so Swift buffers may go away after binding.
        private static let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

        mutating func int(_ value: Int64) { index += 1; sqlite3_bind_int64(handle, index, value) }
        mutating func int(_ value: Int32) { int(Int64(value)) }
        mutating func int(_ value: Int) { int(Int64(value)) }
        mutating func bool(_ value: Bool) { int(Int64(value ? 1 : 0)) }

        mutating func text(_ value: String) {
            index += 1
            var copy = value
            let (handle, index) = (self.handle, self.index)
            copy.withUTF8 { bytes in
                bytes.withMemoryRebound(to: CChar.self) { chars in
                    // An empty buffer may have no address; bind a zero-length text from a valid pointer.
                    if let base = chars.baseAddress {
                        _ = sqlite3_bind_text(handle, index, base, Int32(chars.count), Self.transient)
                    } else {
                        _ = sqlite3_bind_text(handle, index, "", 0, Self.transient)
                    }
                }
            }
        }

        mutating func blob(_ value: [UInt8]?) {
            index += 1
            guard let value else { sqlite3_bind_null(handle, index); return }
            let (handle, index) = (self.handle, self.index)
            value.withUnsafeBytes { bytes in
                if let base = bytes.baseAddress {
                    _ = sqlite3_bind_blob(handle, index, base, Int32(bytes.count), Self.transient)
                } else {
                    _ = sqlite3_bind_zeroblob(handle, index, 0)
                }
            }
        }

        mutating func int(_ value: Int64?) {
            guard let value else { null(); return }
            int(value)
        }

        mutating func null() { index += 1; sqlite3_bind_null(handle, index) }
    }
}
