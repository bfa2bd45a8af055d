/// Money is `*_cents` plus the opportunity's ISO 4217 currency (proto conventions).
enum Money {
    /// Three upper-case ASCII letters (the shape of an ISO 4217 code; the list itself changes too
    /// often to hard-code).
    static func isCurrencyCode(_ code: String) -> Bool {
        code.utf8.count == 3 && code.utf8.allSatisfy { (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains($0) }
    }
}
