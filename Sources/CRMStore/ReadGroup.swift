import GRDB
import Synchronization

/// Grouped reads: point reads that arrive while the readers are busy wait, then run together in one
/// read transaction, so the queue hop, pool checkout and thread wake-ups that GRDB's async read costs
/// (several times a point query itself) are paid once per group instead of once per read. Each
/// group starts after its reads were queued, so a read sees every write acknowledged before it.
final class ReadGroup: Sendable {
    /// Groups run side by side on this many reader connections.
    static let lanes = 2
    /// Bounds how long one slow read can hold up the others in its group.
    static let maxGroup = 64

    private final class Pending: Sendable {
        private let body: @Sendable (Database) -> Void
        private let failure: @Sendable (any Error) -> Void
        private let answered = Atomic(false)

        init(body: @escaping @Sendable (Database) -> Void, failure: @escaping @Sendable (any Error) -> Void) {
            self.body = body
            self.failure = failure
        }

        func run(_ db: Database) {
            guard answered.exchange(true, ordering: .relaxed) == false else { return }
            body(db)
        }

        func fail(_ error: any Error) {
            guard answered.exchange(true, ordering: .relaxed) == false else { return }
            failure(error)
        }
    }

    private let queue: BatchQueue<Pending>

    init(pool: DatabasePool) {
        queue = BatchQueue(lanes: Self.lanes, maxBatch: Self.maxGroup) { group in await Self.read(group, in: pool) }
    }

    func read<T: Sendable>(_ body: @Sendable @escaping (Database) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            let pending = Pending(
                body: { db in continuation.resume(with: Result { try body(db) }) },
                failure: { continuation.resume(throwing: $0) })
            queue.submit(pending)
        }
    }

    /// One group: its reads in one read transaction, each answered as soon as its body ran.
    private static func read(_ group: [Pending], in pool: DatabasePool) async {
        do {
            try await pool.read { db in
                for pending in group { pending.run(db) }
            }
        } catch {
            // The read transaction could not start (or broke): whoever was not answered fails.
            for pending in group { pending.fail(error) }
        }
    }
}
