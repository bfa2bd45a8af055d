import GRDB
import Synchronization

/// Short reads run on the calling thread, on a read-only connection taken from a small free list.
///
/// A point read (one row by key) takes a few microseconds in SQLite. Handing it to GRDB's reader
/// queue and back costs several times that in thread hops and wake-ups; on a busy core that was
/// most of a GetCustomer request. So a short read runs where the request already is (normally its
/// connection's event loop). Connections are lent, not tied to threads: with one per thread, a
/// Dispatch worker that exits closes its connection from a thread-exit hook, where Dispatch's own
/// thread state may already be gone (the likely cause of a double free in two runs of the MyDay
/// benchmark). The list grows to the number of threads reading at once.
/// Each read is one transaction in WAL mode, so it sees every commit acknowledged before it began.
/// Never for scans or anything that may take long: the calling thread waits for it.
final class InlineReaders: Sendable {
    private let path: String
    private let configuration: Configuration
    private let idle = Mutex<[DatabaseQueue]>([])

    init(path: String, busyTimeout: Double) {
        self.path = path
        var configuration = Configuration()
        configuration.readonly = true
        configuration.busyMode = .timeout(busyTimeout)
        configuration.label = "inline reader"
        self.configuration = configuration
    }

    /// Runs `body` in one read transaction. GRDB's own `read` wraps it in savepoints and query_only
    /// pragmas parsed anew each time, which cost more than the point read itself; a reader connection
    /// is read-only anyway, so a cached BEGIN and COMMIT do.
    func read<T>(_ body: (Database) throws -> T) throws -> T {
        let connection = try idle.withLock { $0.popLast() } ?? DatabaseQueue(path: path, configuration: configuration)
        defer { idle.withLock { $0.append(connection) } }
        return try connection.inDatabase { db in
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
}
