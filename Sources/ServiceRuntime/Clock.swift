import Foundation

/// Wall-clock time in UTC milliseconds, the unit every stored timestamp uses (SUITE.md "Time").
/// Rules that depend on time (R2 24 h, R8 3/5/7 days, SLAs) take a clock, so tests drive time.
public protocol WallClock: Sendable {
    func nowMs() -> Int64
}

public struct SystemClock: WallClock {
    public init() {}
    public func nowMs() -> Int64 { Int64((Date().timeIntervalSince1970 * 1000).rounded(.down)) }
}

/// Reads "now" (UTC ms, decimal) from a file on every call: how tests move a running process's
/// time forward without waiting. Falls back to the system clock while the file is missing.
public struct FileClock: WallClock {
    public let path: String
    public init(path: String) { self.path = path }

    public func nowMs() -> Int64 {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8),
              let value = Int64(text.trimmingCharacters(in: .whitespacesAndNewlines)) else {
            return SystemClock().nowMs()
        }
        return value
    }
}

/// A clock a test sets by hand (in-process tests).
public final class ManualClock: WallClock, @unchecked Sendable {
    private let lock = NSLock()
    private var now: Int64
    public init(nowMs: Int64) { now = nowMs }
    public func nowMs() -> Int64 { lock.withLock { now } }
    public func set(_ ms: Int64) { lock.withLock { now = ms } }
    public func advance(ms: Int64) { lock.withLock { now += ms } }
}

public enum Millis {
    public static let second: Int64 = 1000
    public static let minute: Int64 = 60 * second
    public static let hour: Int64 = 60 * minute
    public static let day: Int64 = 24 * hour
}
