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

    private struct State {
        var queue: [Pending] = []
        var draining = 0
    }

    private let pool: DatabasePool
    private let state = Mutex(State())

    init(pool: DatabasePool) {
        self.pool = pool
    }

    func read<T: Sendable>(_ body: @Sendable @escaping (Database) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            let pending = Pending(
                body: { db in continuation.resume(with: Result { try body(db) }) },
                failure: { continuation.resume(throwing: $0) })
            let startDrain = state.withLock { state -> Bool in
                state.queue.append(pending)
                guard state.draining < Self.lanes else { return false }
                state.draining += 1
                return true
            }
            if startDrain { Task { await self.drain() } }
        }
    }

    private func drain() async {
        while let group = nextGroup() {
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

    private func nextGroup() -> [Pending]? {
        state.withLock { state in
            guard !state.queue.isEmpty else {
                state.draining -= 1
                return nil
            }
            let group = Array(state.queue.prefix(Self.maxGroup))
            state.queue.removeFirst(group.count)
            return group
        }
    }
}
