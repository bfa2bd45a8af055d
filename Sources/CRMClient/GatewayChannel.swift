import RPCCore

/// An ``RPCChannel`` to crm-gateway: adds the bearer token and the default deadline to every call
/// and retries calls as ``RetryPolicy`` allows. Any generated `…Client(channel:)` can use it.
public struct GatewayChannel: RPCChannel {
    public let transport: any RPCChannel
    let token: String
    let configuration: CRMClient.Configuration

    public init(transport: any RPCChannel, token: String, configuration: CRMClient.Configuration) {
        self.transport = transport
        self.token = token
        self.configuration = configuration
    }

    public func makeCall(path: String, options: CallOptions) async throws -> any RPCClientCall {
        var options = options
        if options.metadata["authorization"] == nil { options.metadata.add("authorization", "Bearer \(token)") }
        if options.timeout == nil { options.timeout = configuration.defaultTimeout }
        let policy = configuration.retry
        let deadline = options.timeout.map { ContinuousClock.now + $0 }
        let attempt = Attempt(transport: transport, path: path, options: options, deadline: deadline)

        // A call that never reached the server can always be tried again.
        var attemptNumber = 1
        while true {
            do {
                let call = try await attempt.start()
                guard policy.maxAttempts > 1 else { return call }
                return RetryingCall(first: call, attempt: attempt, policy: policy,
                                    idempotent: policy.isIdempotent(path), attemptsUsed: attemptNumber)
            } catch let error as RPCError where policy.retryableCodes.contains(error.code) && attemptNumber < policy.maxAttempts {
                attemptNumber += 1
                try await attempt.pause(policy.backoff(before: attemptNumber), after: error)
            }
        }
    }
}

/// How to start one attempt of a call within its overall deadline.
struct Attempt: Sendable {
    let transport: any RPCChannel
    let path: String
    let options: CallOptions
    let deadline: ContinuousClock.Instant?

    func start() async throws -> any RPCClientCall {
        var options = options
        if let deadline {
            let remaining = deadline - .now
            guard remaining > .zero else { throw RPCError(.deadlineExceeded, "deadline exceeded before \(path) could be sent") }
            options.timeout = remaining
        }
        return try await transport.makeCall(path: path, options: options)
    }

    /// Sleeps before a retry; when that would pass the deadline, the last failure is the answer.
    func pause(_ delay: Duration, after failure: RPCError) async throws {
        if let deadline, ContinuousClock.now + delay >= deadline { throw failure }
        try await Task.sleep(for: delay)
    }
}
