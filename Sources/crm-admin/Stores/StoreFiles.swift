import Foundation
import GRDB

/// Direct access to a service's SQLite file for backup, restore and checks — safe while the
/// service runs: its store is in WAL mode, so a reader here never blocks its writer.
enum StoreFiles {
    static func requireExisting(_ path: String) throws {
        guard FileManager.default.fileExists(atPath: path) else { throw AdminError("no store at \(path)") }
    }

    static func open(_ path: String, readOnly: Bool = false) throws -> DatabaseQueue {
        var configuration = Configuration()
        configuration.busyMode = .timeout(10)
        configuration.readonly = readOnly
        do {
            return try DatabaseQueue(path: path, configuration: configuration)
        } catch {
            throw AdminError("cannot open \(path): \(error)")
        }
    }

    /// `PRAGMA integrity_check`: ["ok"] or the problems found.
    static func integrity(of database: DatabaseQueue) throws -> [String] {
        do {
            return try database.read { db in try String.fetchAll(db, sql: "PRAGMA integrity_check") }
        } catch let error as DatabaseError {
            // A file too damaged to even check is a failed check, not a crash of the tool.
            return [error.message ?? "\(error)"]
        }
    }

    /// Applied migration identifiers (GRDB's `grdb_migrations`), empty for a store never migrated.
    static func appliedMigrations(_ database: DatabaseQueue) throws -> [String] {
        try database.read { db in
            guard try db.tableExists("grdb_migrations") else { return [] }
            return try String.fetchAll(db, sql: "SELECT identifier FROM grdb_migrations ORDER BY identifier")
        }
    }

    /// Rows per table (the store's own tables, not SQLite's or GRDB's bookkeeping).
    static func rowCounts(_ database: DatabaseQueue) throws -> [(table: String, rows: Int)] {
        try database.read { db in
            let tables = try String.fetchAll(db, sql: """
                SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' \
                AND name != 'grdb_migrations' ORDER BY name
                """)
            // Table names come from the file's own schema, quoted as identifiers; never from input.
            return try tables.map { table in
                let quoted = "\"" + table.replacingOccurrences(of: "\"", with: "\"\"") + "\""
                return (table, try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM \(quoted)") ?? 0)
            }
        }
    }

    /// A consistent copy of `source` at `destination` by SQLite's online backup, taken in one step
    /// (one read transaction: a snapshot even while the service keeps writing), written beside
    /// the destination and renamed into place only once `PRAGMA integrity_check` says ok.
    static func copy(from source: DatabaseQueue, to destination: String) throws {
        let partial = destination + ".partial"
        try? FileManager.default.removeItem(atPath: partial)
        do {
            let directory = URL(fileURLWithPath: destination).deletingLastPathComponent().path
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            let target = try DatabaseQueue(path: partial)
            try source.backup(to: target)
            // A backup is one self-contained file: no -wal beside it.
            try target.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA journal_mode = DELETE") }
            let problems = try integrity(of: target)
            try target.close()
            guard problems == ["ok"] else {
                throw AdminError("the copy failed its integrity check: \(problems.prefix(5).joined(separator: "; "))", code: AdminExit.problems)
            }
            if FileManager.default.fileExists(atPath: destination) { try FileManager.default.removeItem(atPath: destination) }
            try FileManager.default.moveItem(atPath: partial, toPath: destination)
        } catch {
            try? FileManager.default.removeItem(atPath: partial)
            if let error = error as? AdminError { throw error }
            throw AdminError("copying to \(destination) failed: \(error)")
        }
    }

    /// `name.sqlite` → `name.<label>-20260105T090000Z.sqlite` beside it.
    static func siblingPath(of path: String, label: String) -> String {
        let url = URL(fileURLWithPath: path)
        let base = url.deletingPathExtension().lastPathComponent
        let ext = url.pathExtension.isEmpty ? "sqlite" : url.pathExtension
        return url.deletingLastPathComponent().appendingPathComponent("\(base).\(label)-\(timestamp()).\(ext)").path
    }

    static func timestamp() -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMdd'T'HHmmss'Z'"
        return formatter.string(from: Date())
    }

    static func describe(_ counts: [(table: String, rows: Int)]) -> String {
        counts.map { "\($0.table) \($0.rows)" }.joined(separator: ", ")
    }
}
