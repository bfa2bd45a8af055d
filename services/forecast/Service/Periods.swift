import Foundation
import ServiceRuntime

/// Calendar arithmetic on UTC days, without Foundation's calendars: results are pure functions of
/// their inputs, cheap enough to run per deal when 100,000 deals are scored.
enum CivilDate {
    /// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's `days_from_civil`).
    static func days(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    /// The (year, month, day) of a day number.
    static func civil(_ days: Int) -> (year: Int, month: Int, day: Int) {
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

    /// Parses "YYYY-MM-DD" strictly (real calendar dates only); nil otherwise.
    static func parse(_ text: String) -> Int? {
        let bytes = Array(text.utf8)
        guard bytes.count == 10, bytes[4] == UInt8(ascii: "-"), bytes[7] == UInt8(ascii: "-") else { return nil }
        guard let year = number(bytes[0..<4]), let month = number(bytes[5..<7]), let day = number(bytes[8..<10]),
              (1...12).contains(month), day >= 1, day <= daysIn(year: year, month: month) else { return nil }
        return days(year: year, month: month, day: day)
    }

    static func format(_ days: Int) -> String {
        let (y, m, d) = civil(days)
        return "\(pad(y, 4))-\(pad(m, 2))-\(pad(d, 2))"
    }

    /// The UTC day of an instant in milliseconds.
    static func day(ofMs ms: Int64) -> Int {
        Int((ms >= 0 ? ms : ms - Millis.day + 1) / Millis.day)
    }

    static func startMs(ofDay day: Int) -> Int64 { Int64(day) * Millis.day }

    static func daysIn(year: Int, month: Int) -> Int {
        switch month {
        case 2: (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    static func number(_ digits: ArraySlice<UInt8>) -> Int? {
        var value = 0
        for byte in digits {
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
            value = value * 10 + Int(byte - UInt8(ascii: "0"))
        }
        return value
    }

    static func pad(_ value: Int, _ width: Int) -> String {
        let text = String(value)
        return text.count >= width ? text : String(repeating: "0", count: width - text.count) + text
    }
}

/// A reporting period of the forecast contract: "YYYY-MM" (month), "YYYY-Qn" (quarter) or "YYYY"
/// (year), UTC, as the half-open day range [startDay, endDay).
struct Period: Sendable, Hashable, CustomStringConvertible {
    enum Kind: Sendable { case month, quarter, year }
    let text: String
    let kind: Kind
    let startDay: Int
    let endDay: Int

    var startMs: Int64 { CivilDate.startMs(ofDay: startDay) }
    var endMs: Int64 { CivilDate.startMs(ofDay: endDay) }
    var description: String { text }

    func contains(_ day: Int) -> Bool { day >= startDay && day < endDay }
    func contains(ms: Int64) -> Bool { ms >= startMs && ms < endMs }
    func hasEnded(nowMs: Int64) -> Bool { nowMs >= endMs }

    /// Share of the period that has elapsed at `nowMs` (0 before it starts, 1 after it ends).
    func elapsedFraction(nowMs: Int64) -> Double {
        let total = Double(endMs - startMs)
        return min(1, max(0, Double(nowMs - startMs) / total))
    }

    /// Parses a period string; nil when it is none of the three forms.
    static func parse(_ raw: String) -> Period? {
        let text = raw.trimmingCharacters(in: .whitespaces)
        let bytes = Array(text.utf8)
        guard bytes.count >= 4, let year = CivilDate.number(bytes[0..<4]), year >= 1970, year <= 9999 else { return nil }
        if bytes.count == 4 {
            return Period(text: text, kind: .year, startDay: CivilDate.days(year: year, month: 1, day: 1),
                          endDay: CivilDate.days(year: year + 1, month: 1, day: 1))
        }
        guard bytes[4] == UInt8(ascii: "-") else { return nil }
        if bytes.count == 7, bytes[5] == UInt8(ascii: "Q"), let q = CivilDate.number(bytes[6..<7]), (1...4).contains(q) {
            let first = (q - 1) * 3 + 1
            let end = first + 3 > 12 ? CivilDate.days(year: year + 1, month: 1, day: 1)
                                     : CivilDate.days(year: year, month: first + 3, day: 1)
            return Period(text: text, kind: .quarter, startDay: CivilDate.days(year: year, month: first, day: 1), endDay: end)
        }
        if bytes.count == 7, let month = CivilDate.number(bytes[5..<7]), (1...12).contains(month) {
            let end = month == 12 ? CivilDate.days(year: year + 1, month: 1, day: 1)
                                  : CivilDate.days(year: year, month: month + 1, day: 1)
            return Period(text: text, kind: .month, startDay: CivilDate.days(year: year, month: month, day: 1), endDay: end)
        }
        return nil
    }

    /// The month containing `nowMs`.
    static func month(containing nowMs: Int64) -> Period {
        let (y, m, _) = CivilDate.civil(CivilDate.day(ofMs: nowMs))
        return parse("\(CivilDate.pad(y, 4))-\(CivilDate.pad(m, 2))")!
    }

    /// The quarter containing `nowMs`.
    static func quarter(containing nowMs: Int64) -> Period {
        let (y, m, _) = CivilDate.civil(CivilDate.day(ofMs: nowMs))
        return parse("\(CivilDate.pad(y, 4))-Q\((m - 1) / 3 + 1)")!
    }

    /// The month and quarter immediately before the ones containing `nowMs` (period-close candidates).
    static func previousMonthAndQuarter(_ nowMs: Int64) -> [Period] {
        let month = Period.month(containing: nowMs)
        let quarter = Period.quarter(containing: nowMs)
        let lastDayOfPreviousMonth = CivilDate.startMs(ofDay: month.startDay - 1)
        let lastDayOfPreviousQuarter = CivilDate.startMs(ofDay: quarter.startDay - 1)
        return [Period.month(containing: lastDayOfPreviousMonth), Period.quarter(containing: lastDayOfPreviousQuarter)]
    }
}

/// Validates a request's period field, naming it in INVALID_ARGUMENT; "" means the current month.
func requirePeriod(_ text: String, field: String = "period", nowMs: Int64, errors: inout FieldErrors,
                   defaultToCurrent: Bool = true) -> Period {
    if text.isEmpty, defaultToCurrent { return Period.month(containing: nowMs) }
    guard let period = Period.parse(text) else {
        errors.add(field, text.isEmpty ? "required" : "'\(text)' is not YYYY-MM, YYYY-Qn or YYYY")
        return Period.month(containing: nowMs)
    }
    return period
}
