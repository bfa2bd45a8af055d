/// API token secrets: `crm_` + 43 base64url characters of 256 random bits. Only the SHA-256 hex of a
/// secret is stored (issue 8: "only a hash is stored"); the first characters are kept as a prefix so
/// people can recognise a token in a listing without it being usable.
enum TokenSecret {
    static let scheme = "crm_"
    static let prefixLength = 12

    /// A new secret from the system's cryptographic generator (getrandom on Linux).
    static func generate() -> String {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) }
        return scheme + base64URL(bytes)
    }

    static func hash(_ secret: String) -> String { SHA256.hex(secret) }

    static func prefix(_ secret: String) -> String { String(secret.prefix(prefixLength)) }

    /// A stored hash is 64 lower-case hex digits (checked when a directory is imported).
    static func isValidHash(_ text: String) -> Bool {
        text.utf8.count == 64 && text.utf8.allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }
    }

    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

    private static func base64URL(_ bytes: [UInt8]) -> String {
        var out = [UInt8]()
        var i = 0
        while i + 2 < bytes.count {
            let n = UInt32(bytes[i]) << 16 | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2])
            for shift in [18, 12, 6, 0] { out.append(alphabet[Int((n >> UInt32(shift)) & 63)]) }
            i += 3
        }
        let rest = bytes.count - i
        if rest > 0 {
            var n = UInt32(bytes[i]) << 16
            if rest == 2 { n |= UInt32(bytes[i + 1]) << 8 }
            out.append(alphabet[Int((n >> 18) & 63)])
            out.append(alphabet[Int((n >> 12) & 63)])
            if rest == 2 { out.append(alphabet[Int((n >> 6) & 63)]) }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
