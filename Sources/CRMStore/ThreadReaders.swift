import GRDB
import NIOPosix

/// Short reads on the calling thread, each thread with a read-only connection of its own.
///
/// A point read (one row by key) takes a few microseconds in SQLite. Handing it to GRDB's reader
/// queue and back costs several times that in thread hops and wake-ups; on a busy core that was
/// most of a GetCustomer request. So a short read runs where the request already is (normally
/// its connection's event loop), on a connection that thread opened once. Each read is its own
/// transaction in WAL mode, so it sees every commit acknowledged before it began. Never for scans
/// or anything that may take long: the calling thread waits for it.
final class ThreadReaders: Sendable {
    private let path: String
    private let configuration: Configuration
    private let connections = ThreadSpecificVariable<DatabaseQueue>()

    init(path: String, busyTimeout: Double) {
        self.path = path
        var configuration = Configuration()
        configuration.readonly = true
        configuration.busyMode = .timeout(busyTimeout)
        configuration.label = "thread reader"
        self.configuration = configuration
    }

    /// Runs `body` in one read transaction. GRDB's own `read` wraps it in savepoints and query_only
    /// pragmas parsed anew each time, which cost more than the point read itself; a reader connection
    /// is read-only anyway, so a cached BEGIN and COMMIT do.
    func read<T>(_ body: (Database) throws -> T) throws -> T {
        try connection().inDatabase { db in
            try db.cachedStatement(sql: "BEGIN").execute()
            let result: T
            do {
                result = try body(db)
            } catch {
                try? db.cachedStatement(sql: "ROLLBACK").execute()
                throw error
            }
            try db.cachedStatement(sql: "COMMIT").execute()
            return result
        }
    }

    private func connection() throws -> DatabaseQueue {
        if let queue = connections.currentValue { return queue }
        let queue = try DatabaseQueue(path: path, configuration: configuration)
        connections.currentValue = queue
        return queue
    }
}
