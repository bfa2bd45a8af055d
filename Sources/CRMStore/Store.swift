import Foundation
import GRDB

/// One versioned step of a service's schema. Versions are recorded in the database (GRDB's
/// `grdb_migrations` table), so a store always says which schema it holds.
public struct Migration: Sendable {
    public let version: Int
    public let name: String
    public let apply: @Sendable (Database) throws -> Void

    public init(_ version: Int, _ name: String, apply: @escaping @Sendable (Database) throws -> Void) {
        self.version = version
        self.name = name
        self.apply = apply
    }

    /// The identifier GRDB records: zero-padded so they sort in version order.
    var identifier: String { String(format: "%04d-%@", version, name) }
}

public enum StoreError: Error, CustomStringConvertible {
    case newerThanBinary(path: String, unknown: [String])
    case migrationsOutOfOrder

    public var description: String {
        switch self {
        case .newerThanBinary(let path, let unknown):
            "store \(path) was written by a newer version (unknown migrations: \(unknown.joined(separator: ", "))); refusing to serve it"
        case .migrationsOutOfOrder:
            "migrations must have strictly increasing versions"
        }
    }
}

/// A service's own SQLite database: WAL mode (readers never block the writer), a busy timeout,
/// one transaction per request through GRDB's `DatabasePool`, and schema migrations on open.
public final class Store: Sendable {
    public let path: String
    public let pool: DatabasePool
    public let migrations: [Migration]
    private let group: GroupCommit
    private let inlineReaders: InlineReaders

    /// Opens (creating if needed) the store at `path` and migrates it to the latest version.
    public init(path: String, migrations: [Migration], migrate: Bool = true) throws {
        guard zip(migrations, migrations.dropFirst()).allSatisfy({ $0.version < $1.version }) else {
            throw StoreError.migrationsOutOfOrder
        }
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent().path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var configuration = Configuration()
        configuration.busyMode = .timeout(Self.busyTimeout)
        configuration.prepareDatabase { db in
            // In WAL mode NORMAL survives any process crash; only an OS crash can lose the last commits.
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
            try db.execute(sql: "PRAGMA foreign_keys = ON")
        }
        self.path = path
        self.migrations = migrations
        pool = try DatabasePool(path: path, configuration: configuration)
        group = GroupCommit(pool: pool)
        inlineReaders = InlineReaders(path: path, busyTimeout: Self.busyTimeout)
        try refuseIfNewer()
        if migrate { try self.migrate() }
    }

    private var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        for migration in migrations {
            migrator.registerMigration(migration.identifier) { db in try migration.apply(db) }
        }
        return migrator
    }

    /// Fails if the database records migrations this binary does not know.
    public func refuseIfNewer() throws {
        let known = Set(migrations.map(\.identifier))
        let applied = try pool.read { db in try migrator.appliedIdentifiers(db) }
        let unknown = applied.filter { !known.contains($0) }.sorted()
        if !unknown.isEmpty { throw StoreError.newerThanBinary(path: path, unknown: unknown) }
    }

    /// Applies pending migrations, each in its own transaction; `upTo` stops at a version.
    public func migrate(upTo version: Int? = nil) throws {
        if let version, let target = migrations.last(where: { $0.version <= version }) {
            try migrator.migrate(pool, upTo: target.identifier)
        } else if version == nil {
            try migrator.migrate(pool)
        }
    }

    /// The highest applied version (0 for an empty store) and the versions still pending.
    public func schemaStatus() throws -> (current: Int, pending: [Migration]) {
        let applied = try pool.read { db in try migrator.appliedIdentifiers(db) }
        let current = migrations.filter { applied.contains($0.identifier) }.map(\.version).max() ?? 0
        return (current, migrations.filter { !applied.contains($0.identifier) })
    }

    /// `PRAGMA integrity_check`: "ok" or the problems found.
    public func integrityCheck() throws -> [String] {
        try pool.read { db in try String.fetchAll(db, sql: "PRAGMA integrity_check") }
    }

    /// A consistent copy of the live database (SQLite online backup) at `destination`.
    public func backup(to destination: String) throws {
        let target = try DatabaseQueue(path: destination)
        try pool.backup(to: target)
    }

    public func read<T: Sendable>(_ body: @Sendable @escaping (Database) throws -> T) async throws -> T {
        try await pool.read(body)
    }

    /// Like `read`, but runs `body` at once on the calling thread (see `InlineReaders`): for point
    /// reads, a few rows by key, never for scans.
    public func readHere<T>(_ body: (Database) throws -> T) throws -> T {
        try inlineReaders.read(body)
    }

    /// One request, one transaction: everything in `body` commits together or not at all.
    public func write<T: Sendable>(_ body: @Sendable @escaping (Database) throws -> T) async throws -> T {
        try await pool.write(body)
    }

    /// Like `write`, but shares one transaction and one commit with the writes waiting beside it
    /// (group commit; see `GroupCommit`): for hot single-record writes under concurrency. The body
    /// still commits all or nothing and is answered only after the commit; it must not register
    /// transaction observers.
    public func writeInGroup<T: Sendable>(_ body: @Sendable @escaping (Database) throws -> T) async throws -> T {
        try await group.write(body)
    }

    /// Seconds a connection waits for a lock before failing with SQLITE_BUSY.
    static let busyTimeout: Double = 5

    /// The conventional location of a service's store: `data/<name>.sqlite`.
    public static func defaultPath(for name: String) -> String { "data/\(name).sqlite" }
}
