import Synchronization

/// Record ids in ServiceRuntime's `RecordID` format (`prefix_` + 12 hex digits of creation time + 10
/// more), but the last 10 digits come from a per-process random start plus a counter instead of ten
/// fresh random draws: one system random call per process rather than per id, which mattered for bulk
/// intake (three ids per lead), and ids made in the same millisecond sort in creation order.
enum LeadIDs {
    private static let counter = Mutex<UInt64>(UInt64.random(in: 0..<(1 << 40)))

    static func make(_ prefix: String, nowMs: Int64) -> String {
        let next = counter.withLock { value -> UInt64 in
            value = (value &+ 1) & ((1 << 40) - 1)
            return value
        }
        return "\(prefix)_\(hex(UInt64(max(nowMs, 0)), width: 12))\(hex(next, width: 10))"
    }

    private static func hex(_ value: UInt64, width: Int) -> String {
        let text = String(value, radix: 16)
        return text.count >= width ? text : String(repeating: "0", count: width - text.count) + text
    }
}
