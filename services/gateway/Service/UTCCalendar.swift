/// Calendar arithmetic on UTC milliseconds for view defaults (current day, month, period), done
/// with the injected clock's value rather than the system's notion of "now".
enum UTCCalendar {
    static let dayMs: Int64 = 86_400_000

    /// The first instant of the next UTC day: MyDay's default horizon ("end of the current UTC day").
    static func endOfDay(_ ms: Int64) -> Int64 {
        (floorDiv(ms, dayMs) + 1) * dayMs
    }

    /// "YYYY-MM" of the instant.
    static func month(_ ms: Int64) -> String {
        let (year, month, _) = civil(days: floorDiv(ms, dayMs))
        return "\(year)-\(month < 10 ? "0" : "")\(month)"
    }

    /// A forecast period: "YYYY-MM", "YYYY-Qn" or "YYYY" (forecast.proto).
    static func isPeriod(_ text: String) -> Bool {
        let chars = Array(text)
        func digits(_ range: Range<Int>) -> Bool { range.allSatisfy { chars[$0].isASCII && chars[$0].isNumber } }
        switch chars.count {
        case 4: return digits(0..<4)
        case 7 where chars[4] == "-" && chars[5] == "Q":
            return digits(0..<4) && ("1"..."4").contains(chars[6])
        case 7 where chars[4] == "-":
            guard digits(0..<4), digits(5..<7), let month = Int(String(chars[5...6])) else { return false }
            return (1...12).contains(month)
        default: return false
        }
    }

    private static func floorDiv(_ a: Int64, _ b: Int64) -> Int64 {
        a >= 0 ? a / b : -((-a + b - 1) / b)
    }

    /// Days since 1970-01-01 to a proleptic Gregorian date (H. Hinnant's civil_from_days).
    private static func civil(days: Int64) -> (Int64, Int64, Int64) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }
}
