import RPCCore

/// Ranges every stored amount and instant must fall in. Swift traps on integer overflow, so a
/// producer or importer sending Int64.max would otherwise crash a sum; amounts are capped far above
/// any real deal (100 billion in currency units, summed over millions of deals still fits Int64)
/// and instants between 1970 and the year 3000.
enum Bounds {
    static let maxAmountCents: Int64 = 10_000_000_000_000
    static let maxTargetCents: Int64 = 1_000_000_000_000_000
    static let latestMs: Int64 = 32_503_680_000_000

    static func amount(_ field: String, _ value: Int64) throws {
        guard (0...maxAmountCents).contains(value) else {
            throw RPCError(.invalidArgument, "\(field): \(value) is outside 0...\(maxAmountCents)")
        }
    }

    static func instant(_ field: String, _ value: Int64) throws {
        guard (0...latestMs).contains(value) else {
            throw RPCError(.invalidArgument, "\(field): \(value) is not an instant between 1970 and 3000")
        }
    }

    static func clampAmount(_ value: Int64) -> Int64 { min(max(value, 0), maxAmountCents) }
    static func clampInstant(_ value: Int64) -> Int64 { min(max(value, 0), latestMs) }
}

/// A money figure computed in floating point, rounded to cents without trapping on NaN or overflow.
func roundedCents(_ value: Double) -> Int64 {
    guard value.isFinite else { return 0 }
    if value >= 9.2e18 { return Int64.max }
    if value <= -9.2e18 { return Int64.min }
    return Int64(value.rounded())
}
