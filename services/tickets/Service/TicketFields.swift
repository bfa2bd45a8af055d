import CRMProto
import Foundation
import ProtoWire
import ServiceRuntime

/// Limits and small checks shared by every handler, so the same field is judged the same way
/// wherever it appears.
enum TicketFields {
    static let maxID = 128
    static let maxTitle = 200
    static let maxDetails = 10_000
    static let maxReason = 1_000
    static let maxResolution = 5_000
    static let maxComment = 10_000
    /// 9999-12-31T23:59:59.999Z: timestamps beyond it are typos, and keeping them bounded keeps
    /// every sum of instants and durations far from overflow.
    static let maxInstantMs: Int64 = 253_402_300_799_999

    /// A declared value other than the UNSPECIFIED zero.
    static func isKnown<E: ProtoEnum>(_ value: E) -> Bool {
        value.rawValue != 0 && E.allCases.contains(value)
    }

    /// The active statuses: the ticket still needs work and its clocks run (or are paused).
    static let activeStatuses: [TicketStatus] = [.open, .inProgress, .waitingOnCustomer]
    static let activeStatusSQL = "(1, 2, 3)"

    static func trimmed(_ text: String) -> String { text.trimmingCharacters(in: .whitespacesAndNewlines) }
}

extension FieldErrors {
    /// An id field: optional, but bounded.
    mutating func checkID(_ field: String, _ value: String) {
        maxLength(field, value, TicketFields.maxID)
    }

    /// An instant in UTC ms, optional (0 = unset).
    mutating func checkInstant(_ field: String, _ value: Int64) {
        if value < 0 || value > TicketFields.maxInstantMs {
            add(field, "must be a UTC millisecond instant between 1970 and 9999, got \(value)")
        }
    }
}

extension Int64 {
    /// Addition that saturates instead of trapping: durations added to instants never crash.
    func plus(_ other: Int64) -> Int64 {
        let (sum, overflow) = addingReportingOverflow(other)
        return overflow ? (other > 0 ? .max : .min) : sum
    }
}
