import GRDB
import Synchronization

/// Group commit: writes that arrive while the writer is busy wait, then run together in one
/// transaction with one commit, each in its own savepoint. A body that throws is rolled back to
/// its savepoint and gets its error; the others commit. Every caller is answered only after the
/// commit, so an acknowledged write is as durable as with a transaction of its own, while the WAL
/// pages that concurrent writes share (index pages, the outbox) are written once per group.
///
/// Bodies must not register transaction observers (`afterNextTransaction`): the transaction is
/// shared, so a hook would fire even when its own body was rolled back.
final class GroupCommit: Sendable {
    /// Bounds how long one group holds the writer (and so the latency of the last write in it).
    static let maxGroup = 128

    private struct Pending: Sendable {
        /// Runs the body in a savepoint; on success returns what answers the caller after the
        /// commit, on failure answers the caller at once and returns nil.
        let run: @Sendable (Database) -> Completion?
        /// Answers the caller without running the body.
        let fail: @Sendable (any Error) -> Void
    }

    private struct Completion: Sendable {
        let succeed: @Sendable () -> Void
        let fail: @Sendable (any Error) -> Void
    }

    private final class Completions: Sendable {
        let list = Mutex<[Completion]>([])
    }

    private let queue: BatchQueue<Pending>

    init(pool: DatabasePool) {
        queue = BatchQueue(lanes: 1, maxBatch: Self.maxGroup) { group in await Self.commit(group, in: pool) }
    }

    func write<T: Sendable>(_ body: @Sendable @escaping (Database) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            let pending = Pending(
                run: { db in
                    do {
                        let result = Box<T>()
                        try db.inSavepoint {
                            result.value = try body(db)
                            return .commit
                        }
                        return Completion(succeed: { continuation.resume(returning: result.value!) },
                                          fail: { continuation.resume(throwing: $0) })
                    } catch {
                        continuation.resume(throwing: error)
                        return nil
                    }
                },
                fail: { continuation.resume(throwing: $0) })
            queue.submit(pending)
        }
    }

    /// One group: one transaction, a savepoint per write, every caller answered after the commit.
    private static func commit(_ group: [Pending], in pool: DatabasePool) async {
        let ran = Completions()
        do {
            try await pool.write { db in
                for pending in group {
                    // Some SQLite errors (disk full, I/O) end the whole transaction; nothing
                    // after them may run outside it.
                    guard db.isInsideTransaction else {
                        pending.fail(GroupAborted())
                        continue
                    }
                    if let completion = pending.run(db) { ran.list.withLock { $0.append(completion) } }
                }
                if !db.isInsideTransaction { throw GroupAborted() }
            }
        } catch {
            // Nothing of this group is stored: every write that had succeeded in it fails now.
            for completion in ran.list.withLock({ $0 }) { completion.fail(error) }
            return
        }
        for completion in ran.list.withLock({ $0 }) { completion.succeed() }
    }
}

private final class Box<T>: @unchecked Sendable {
    var value: T?
}

private struct GroupAborted: Error, CustomStringConvertible {
    var description: String { "the storage engine aborted the transaction this write shared; nothing of it was stored" }
}
