import RPCCore

/// When a failed call is tried again. A call is retried only if it failed with one of
/// ``retryableCodes`` before any response message reached the caller, and either it never reached
/// the server (the connection could not be made) or the method is idempotent, so running it twice
/// is the same as running it once.
public struct RetryPolicy: Sendable {
    /// Attempts in total, the first included (1 = no retries).
    public var maxAttempts: Int
    public var initialBackoff: Duration
    public var maxBackoff: Duration
    public var retryableCodes: Set<StatusCode>
    /// Whether `/package.Service/Method` may run twice. Default: ``isReadMethod(_:)``. Creates with a
    /// `request_id` are idempotent too (the suite replays them); widen this when you always set one.
    public var isIdempotent: @Sendable (String) -> Bool
    /// Requests buffered for a replay, in bytes; larger request streams are not retried.
    public var maxReplayBytes: Int

    public init(maxAttempts: Int = 3, initialBackoff: Duration = .milliseconds(100), maxBackoff: Duration = .seconds(2),
                retryableCodes: Set<StatusCode> = [.unavailable], maxReplayBytes: Int = 4 * 1024 * 1024,
                isIdempotent: @escaping @Sendable (String) -> Bool = RetryPolicy.isReadMethod) {
        self.maxAttempts = max(1, maxAttempts)
        self.initialBackoff = initialBackoff
        self.maxBackoff = maxBackoff
        self.retryableCodes = retryableCodes
        self.maxReplayBytes = maxReplayBytes
        self.isIdempotent = isIdempotent
    }

    public static let `default` = RetryPolicy()
    public static let none = RetryPolicy(maxAttempts: 1)

    /// Methods that only read: Get…, List…, BatchGet…, Find…, Export…, …Report, WhoAmI, health.
    public static func isReadMethod(_ path: String) -> Bool {
        guard let method = path.split(separator: "/").last else { return false }
        let readPrefixes = ["Get", "List", "BatchGet", "Find", "Export", "WhoAmI", "Check", "Watch",
                            "CustomerOverview", "MyDay", "PipelineReview"]
        return readPrefixes.contains { method.hasPrefix($0) } || method.hasSuffix("Report")
    }

    /// Exponential backoff with jitter before attempt `attempt` (2 = the first retry).
    func backoff(before attempt: Int) -> Duration {
        var delay = initialBackoff
        for _ in 2..<max(attempt, 2) { delay = min(delay * 2, maxBackoff) }
        return min(delay, maxBackoff) * Double.random(in: 0.8...1.2)
    }
}
