import Foundation
import RPCCore

/// Collects every problem with a request so one INVALID_ARGUMENT names them all
/// (`phone: not a phone number; source: required`), as SUITE.md "Errors" asks.
public struct FieldErrors: Sendable {
    public private(set) var problems: [String] = []
    public init() {}

    public mutating func add(_ field: String, _ problem: String) {
        problems.append("\(field): \(problem)")
    }

    /// Adds "required" when `value` is empty after trimming; returns the trimmed value.
    @discardableResult
    public mutating func require(_ field: String, _ value: String) -> String {
        let trimmed = value.trimmed
        if trimmed.isEmpty { add(field, "required") }
        return trimmed
    }

    public mutating func maxLength(_ field: String, _ value: String, _ limit: Int) {
        if value.count > limit { add(field, "at most \(limit) characters, got \(value.count)") }
    }

    public var isEmpty: Bool { problems.isEmpty }

    public func throwIfAny() throws {
        if !problems.isEmpty { throw RPCError(.invalidArgument, problems.joined(separator: "; ")) }
    }
}

extension String {
    /// The text without leading and trailing whitespace and newlines, as
    /// `trimmingCharacters(in: .whitespacesAndNewlines)`; text that starts and ends with a visible ASCII
    /// character (nearly every input) is returned as is, without Foundation's round trip through NSString.
    public var trimmed: String {
        guard let first = utf8.first, let last = utf8.last else { return self }
        func visibleASCII(_ byte: UInt8) -> Bool { byte < 0x80 && byte != 0x20 && !(0x09...0x0D).contains(byte) }
        if visibleASCII(first), visibleASCII(last) { return self }
        return trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

/// A rule of PRODUCT.md was violated: FAILED_PRECONDITION naming the rule (`R4: …`).
public func ruleViolation(_ rule: String, _ message: String) -> RPCError {
    RPCError(.failedPrecondition, "\(rule): \(message)")
}

/// Phone and email checks shared by leads, customers and contacts.
public enum ContactPoint {
    /// Normalises to `+` and digits (7 to 15 digits, E.164's range); nil when it is not a phone number.
    public static func normalizePhone(_ raw: String) -> String? {
        let trimmed = raw.trimmed
        guard !trimmed.isEmpty else { return nil }
        var digits = ""
        for (i, c) in trimmed.enumerated() {
            if c.isASCII, c.isNumber { digits.append(c) }
            else if c == "+" && i == 0 { continue }
            else if " -().".contains(c) { continue }
            else { return nil }
        }
        guard (7...15).contains(digits.count) else { return nil }
        return (trimmed.hasPrefix("+") ? "+" : "") + digits
    }

    /// Lower-cases and checks `local@domain.tld`; nil when it is not an email address.
    public static func normalizeEmail(_ raw: String) -> String? {
        let email = raw.trimmed.lowercased()
        let parts = email.split(separator: "@", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, parts[0].count <= 64, email.count <= 254 else { return nil }
        let domain = parts[1]
        let labels = domain.split(separator: ".", omittingEmptySubsequences: false)
        guard labels.count >= 2, labels.allSatisfy({ !$0.isEmpty && $0.count <= 63 }),
              let tld = labels.last, tld.count >= 2, tld.allSatisfy(\.isLetter) else { return nil }
        let allowedLocal = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: ".!#$%&'*+/=?^_`{|}~-"))
        let allowedDomain = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: ".-"))
        guard parts[0].unicodeScalars.allSatisfy(allowedLocal.contains),
              domain.unicodeScalars.allSatisfy(allowedDomain.contains) else { return nil }
        return email
    }
}

/// Record ids: a prefix, then the creation time and randomness, so ids sort by creation.
public enum RecordID {
    public static func make(_ prefix: String, nowMs: Int64) -> String {
        let time = String(UInt64(max(nowMs, 0)), radix: 16).leftPad(to: 12)
        // One random draw, not one per digit: ids are made on every insert of a bulk import.
        let random = String(UInt64.random(in: 0..<(1 << 40)), radix: 16).leftPad(to: 10)
        return "\(prefix)_\(time)\(random)"
    }
}

/// Opaque cursors for list calls: the sort key of the last row returned.
public enum PageToken {
    public static func encode(_ parts: [String]) -> String {
        Data(parts.joined(separator: "\u{1F}").utf8).base64EncodedString()
    }

    public static func decode(_ token: String, parts count: Int) throws -> [String]? {
        guard !token.isEmpty else { return nil }
        guard let data = Data(base64Encoded: token), let text = String(data: data, encoding: .utf8) else {
            throw RPCError(.invalidArgument, "page_token: malformed")
        }
        let parts = text.split(separator: "\u{1F}", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == count else { throw RPCError(.invalidArgument, "page_token: malformed") }
        return parts
    }

    /// page_size 0 means the default; above the maximum is clamped, negative is an error.
    public static func pageSize(_ requested: Int32, default defaultSize: Int = 50, max maximum: Int = 500) throws -> Int {
        if requested < 0 { throw RPCError(.invalidArgument, "page_size: must not be negative") }
        return requested == 0 ? defaultSize : min(Int(requested), maximum)
    }
}

extension String {
    func leftPad(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
