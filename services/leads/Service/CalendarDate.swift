/// UTC calendar arithmetic without Foundation's Calendar: days since the epoch <-> civil dates
/// (Howard Hinnant's algorithms), for "YYYY-MM-DD" checks and month/quarter report buckets.
struct CalendarDate: Sendable, Comparable, Hashable {
    var year: Int
    var month: Int
    var day: Int

    static func < (a: CalendarDate, b: CalendarDate) -> Bool {
        (a.year, a.month, a.day) < (b.year, b.month, b.day)
    }

    /// Strict "YYYY-MM-DD" with a real day of that month.
    static func parse(_ text: String) -> CalendarDate? {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0].count == 4, parts[1].count == 2, parts[2].count == 2,
              parts.allSatisfy({ $0.allSatisfy(\.isASCII) && $0.allSatisfy(\.isNumber) }),
              let year = Int(parts[0]), let month = Int(parts[1]), let day = Int(parts[2]),
              (1...12).contains(month), day >= 1, day <= daysIn(year: year, month: month) else { return nil }
        return CalendarDate(year: year, month: month, day: day)
    }

    static func daysIn(year: Int, month: Int) -> Int {
        switch month {
        case 2: (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    /// The UTC date of an instant (clamped to years 0...9999).
    static func day(ofMs ms: Int64) -> CalendarDate {
        let clamped = min(max(ms, -62_167_219_200_000), 253_402_300_799_000)
        var days = Int(clamped / 86_400_000)
        if clamped % 86_400_000 < 0 { days -= 1 }
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return CalendarDate(year: yoe + era * 400 + (month <= 2 ? 1 : 0), month: month, day: day)
    }

    /// "YYYY-MM" of an instant.
    static func monthKey(ofMs ms: Int64) -> String {
        let date = day(ofMs: ms)
        return "\(pad(date.year, 4))-\(pad(date.month, 2))"
    }

    /// "YYYY-Qn" of an instant.
    static func quarterKey(ofMs ms: Int64) -> String {
        let date = day(ofMs: ms)
        return "\(pad(date.year, 4))-Q\((date.month - 1) / 3 + 1)"
    }

    /// Parses "YYYY-MM" (a spend month).
    static func parseMonth(_ text: String) -> (year: Int, month: Int)? {
        guard let date = parse(text + "-01") else { return nil }
        return (date.year, date.month)
    }

    private static func pad(_ value: Int, _ width: Int) -> String {
        let text = String(value)
        return text.count >= width ? text : String(repeating: "0", count: width - text.count) + text
    }
}
