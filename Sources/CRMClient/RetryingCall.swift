import RPCCore
import Synchronization

/// A call that can be run again on a retryable failure: it remembers the request messages it sent
/// and, when the first response fails before any message arrived, starts a new attempt, replays
/// them and carries on. Retries only idempotent methods, and only after the client finished
/// sending (a request stream still open cannot be replayed faithfully).
final class RetryingCall: RPCClientCall {
    private let attempt: Attempt
    private let policy: RetryPolicy
    private let idempotent: Bool
    private let state: Mutex<State>

    struct State {
        var current: any RPCClientCall
        var sent: [[UInt8]] = []
        var sentBytes = 0
        var finished = false
        var delivered = false
        var replayable = true
        var cancelled = false
        var attempts: Int
    }

    init(first: any RPCClientCall, attempt: Attempt, policy: RetryPolicy, idempotent: Bool, attemptsUsed: Int) {
        self.attempt = attempt
        self.policy = policy
        self.idempotent = idempotent
        state = Mutex(State(current: first, attempts: attemptsUsed))
    }

    private var current: any RPCClientCall { state.withLock { $0.current } }

    func send(_ message: [UInt8]) async throws {
        let call = state.withLock { state -> any RPCClientCall in
            if state.replayable, idempotent {
                state.sentBytes += message.count
                if state.sentBytes <= policy.maxReplayBytes { state.sent.append(message) } else { state.replayable = false; state.sent = [] }
            }
            return state.current
        }
        try await call.send(message)
    }

    func finishSending() async throws {
        let call = state.withLock { state -> any RPCClientCall in
            state.finished = true
            return state.current
        }
        try await call.finishSending()
    }

    func receive() async throws -> [UInt8]? {
        while true {
            let call = current
            do {
                let message = try await call.receive()
                if message != nil { state.withLock { $0.delivered = true } }
                return message
            } catch let error as RPCError {
                guard let attemptNumber = nextAttempt(after: error) else { throw error }
                try await attempt.pause(policy.backoff(before: attemptNumber), after: error)
                try await restart()
            }
        }
    }

    /// The number of the next attempt, or nil when this failure is final.
    private func nextAttempt(after error: RPCError) -> Int? {
        state.withLock { state in
            guard idempotent, policy.retryableCodes.contains(error.code), state.finished, state.replayable,
                  !state.delivered, !state.cancelled, state.attempts < policy.maxAttempts else { return nil }
            state.attempts += 1
            return state.attempts
        }
    }

    private func restart() async throws {
        let call = try await attempt.start()
        let replay = state.withLock { state -> [[UInt8]]? in
            guard !state.cancelled else { return nil }
            state.current = call
            return state.sent
        }
        guard let replay else {
            call.cancel()
            throw RPCError(.cancelled, "call cancelled by the client")
        }
        for message in replay { try await call.send(message) }
        try await call.finishSending()
    }

    func initialMetadata() async throws -> Metadata { try await current.initialMetadata() }

    func trailingMetadata() async -> Metadata { await current.trailingMetadata() }

    func cancel() {
        let call = state.withLock { state -> any RPCClientCall in
            state.cancelled = true
            return state.current
        }
        call.cancel()
    }
}
