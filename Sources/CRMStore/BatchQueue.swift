import Synchronization

/// The queue behind grouped writes and reads: items that arrive while the store is busy wait, and
/// up to `lanes` drains at a time take them in batches of at most `maxBatch`. A drain starts with
/// the first item that finds a lane free and ends when the queue is empty.
final class BatchQueue<Item: Sendable>: Sendable {
    private struct State {
        var queue: [Item] = []
        var draining = 0
    }

    private let lanes: Int
    private let maxBatch: Int
    private let runBatch: @Sendable ([Item]) async -> Void
    private let state = Mutex(State())

    init(lanes: Int, maxBatch: Int, runBatch: @escaping @Sendable ([Item]) async -> Void) {
        self.lanes = lanes
        self.maxBatch = maxBatch
        self.runBatch = runBatch
    }

    func submit(_ item: Item) {
        let startDrain = state.withLock { state -> Bool in
            state.queue.append(item)
            guard state.draining < lanes else { return false }
            state.draining += 1
            return true
        }
        if startDrain { Task { await self.drain() } }
    }

    private func drain() async {
        while let batch = nextBatch() { await runBatch(batch) }
    }

    private func nextBatch() -> [Item]? {
        state.withLock { state in
            guard !state.queue.isEmpty else {
                state.draining -= 1
                return nil
            }
            let batch = Array(state.queue.prefix(maxBatch))
            state.queue.removeFirst(batch.count)
            return batch
        }
    }
}
