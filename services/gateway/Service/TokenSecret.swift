import Crypto
import Foundation

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

    /// Lower-case hex of the secret's SHA-256. Runs on every authenticated call: no `String(format:)`.
    static func hash(_ secret: String) -> String {
        var hex: [UInt8] = []
        hex.reserveCapacity(64)
        for byte in SHA256.hash(data: Data(secret.utf8)) {
            hex.append(hexDigits[Int(byte >> 4)])
            hex.append(hexDigits[Int(byte & 0x0F)])
        }
        return String(decoding: hex, as: UTF8.self)
    }

    private static let hexDigits = Array("0123456789abcdef".utf8)

    static func prefix(_ secret: String) -> String { String(secret.prefix(prefixLength)) }

    /// A stored hash is 64 lower-case hex digits (checked when a directory is imported).
    static func isValidHash(_ text: String) -> Bool {
        text.utf8.count == 64 && text.utf8.allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }
    }

    /// Base64url without padding (RFC 4648 §5): safe in headers and URLs as it is.
    private static func base64URL(_ bytes: [UInt8]) -> String {
        Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }
}
