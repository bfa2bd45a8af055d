import Foundation

/// The pieces of the gRPC-over-HTTP/2 wire protocol that do not depend on a transport.
public enum GRPCWire {
    /// Length-prefixed message header: 1-byte compressed flag + 4-byte big-endian length.
    public static let messageHeaderSize = 5

    /// Appends one message, framed for a DATA stream, to `out` (a stream's pending body).
    public static func appendFrame(_ message: [UInt8], compressed: Bool = false, to out: inout [UInt8]) {
        out.append(compressed ? 1 : 0)
        let n = UInt32(message.count)
        out.append(UInt8(n >> 24)); out.append(UInt8((n >> 16) & 0xFF))
        out.append(UInt8((n >> 8) & 0xFF)); out.append(UInt8(n & 0xFF))
        out.append(contentsOf: message)
    }

    // MARK: grpc-timeout

    /// Parses `grpc-timeout` (at most 8 digits and a unit H M S m u n) into nanoseconds.
    public static func parseTimeout(_ value: String) -> Int64? {
        guard let unit = value.last, value.count >= 2, value.count <= 9 else { return nil }
        let digits = value.dropLast()
        guard digits.allSatisfy(\.isASCII), digits.allSatisfy(\.isNumber), let amount = Int64(digits) else { return nil }
        let nanosPerUnit: Int64
        switch unit {
        case "H": nanosPerUnit = 3_600_000_000_000
        case "M": nanosPerUnit = 60_000_000_000
        case "S": nanosPerUnit = 1_000_000_000
        case "m": nanosPerUnit = 1_000_000
        case "u": nanosPerUnit = 1_000
        case "n": nanosPerUnit = 1
        default: return nil
        }
        let (product, overflow) = amount.multipliedReportingOverflow(by: nanosPerUnit)
        return overflow ? Int64.max : product
    }

    /// Encodes a timeout in the finest unit whose amount fits the spec's 8 digits.
    public static func encodeTimeout(nanoseconds: Int64) -> String {
        let n = max(nanoseconds, 0)
        let units: [(Int64, Character)] = [(1, "n"), (1_000, "u"), (1_000_000, "m"), (1_000_000_000, "S"),
                                           (60_000_000_000, "M"), (3_600_000_000_000, "H")]
        for (per, unit) in units {
            let amount = (n + per - 1) / per
            if amount < 100_000_000 { return "\(amount)\(unit)" }
        }
        return "99999999H"
    }

    // MARK: grpc-message

    /// Percent-encodes a status message: bytes outside printable ASCII, and '%', become %XX of UTF-8.
    public static func percentEncode(_ message: String) -> String {
        var out = ""
        for byte in message.utf8 {
            if byte >= 0x20, byte <= 0x7E, byte != 0x25 {
                out.unicodeScalars.append(Unicode.Scalar(byte))
            } else {
                out += "%" + String(byte, radix: 16, uppercase: true).leftPadded(to: 2)
            }
        }
        return out
    }

    /// Reverses ``percentEncode(_:)``; malformed escapes are kept literally, as the spec asks.
    public static func percentDecode(_ value: String) -> String {
        let bytes = Array(value.utf8)
        var out = [UInt8]()
        out.reserveCapacity(bytes.count)
        var i = 0
        while i < bytes.count {
            if bytes[i] == 0x25, i + 2 < bytes.count,
               let hi = hexValue(bytes[i + 1]), let lo = hexValue(bytes[i + 2]) {
                out.append(hi << 4 | lo)
                i += 3
            } else {
                out.append(bytes[i])
                i += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    private static func hexValue(_ c: UInt8) -> UInt8? {
        switch c {
        case 0x30...0x39: c - 0x30
        case 0x41...0x46: c - 0x41 + 10
        case 0x61...0x66: c - 0x61 + 10
        default: nil
        }
    }

    // MARK: -bin metadata

    public static func base64Encode(_ bytes: [UInt8]) -> String {
        Data(bytes).base64EncodedString()
    }

    /// Accepts padded and unpadded base64, since the spec allows senders to omit padding.
    public static func base64Decode(_ text: String) -> [UInt8]? {
        var padded = text.trimmingCharacters(in: .whitespaces)
        let remainder = padded.utf8.count % 4
        if remainder == 2 { padded += "==" } else if remainder == 3 { padded += "=" }
        return Data(base64Encoded: padded).map { Array($0) }
    }

    /// Turns one received header into a metadata entry (decoding `-bin` values).
    public static func metadataValue(key: String, rawValue: String) -> Metadata.Value? {
        if key.hasSuffix("-bin") {
            // Several binary values may arrive comma-joined in one header.
            var joined = [UInt8]()
            let parts = rawValue.split(separator: ",", omittingEmptySubsequences: false)
            for (i, part) in parts.enumerated() {
                guard let decoded = base64Decode(String(part)) else { return nil }
                if i > 0 { joined.append(contentsOf: Array(",".utf8)) }
                joined.append(contentsOf: decoded)
            }
            return .binary(joined)
        }
        return .string(rawValue)
    }

    /// The header value a metadata entry is sent as.
    public static func headerValue(_ value: Metadata.Value) -> String {
        switch value {
        case .string(let s): s
        case .binary(let b): base64Encode(b)
        }
    }
}

extension String {
    func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}

/// Splits a DATA byte stream into length-prefixed messages, however the bytes were chunked.
public struct MessageDeframer: Sendable {
    public enum Failure: Error, Equatable {
        /// A message announced a length over the limit; the payload is not buffered.
        case tooLarge(length: Int, limit: Int)
        /// The compressed flag was set but no grpc-encoding was negotiated.
        case compressedWithoutEncoding
        /// The stream ended in the middle of a message.
        case truncated
    }

    public let maxMessageSize: Int
    private var buffer: [UInt8] = []
    private var readIndex = 0

    public init(maxMessageSize: Int) {
        self.maxMessageSize = maxMessageSize
    }

    /// Bytes held for a message still incomplete.
    public var bufferedBytes: Int { buffer.count - readIndex }

    public mutating func append(_ bytes: UnsafeRawBufferPointer) {
        buffer.append(contentsOf: bytes)
    }

    public mutating func append(_ bytes: [UInt8]) {
        buffer.append(contentsOf: bytes)
    }

    /// The next complete message, if the buffer holds one.
    public mutating func next() throws(Failure) -> [UInt8]? {
        let available = buffer.count - readIndex
        guard available >= GRPCWire.messageHeaderSize else { compact(); return nil }
        let flag = buffer[readIndex]
        var length = 0
        for i in 1...4 { length = length << 8 | Int(buffer[readIndex + i]) }
        if length > maxMessageSize { throw .tooLarge(length: length, limit: maxMessageSize) }
        if flag != 0 { throw .compressedWithoutEncoding }
        guard available >= GRPCWire.messageHeaderSize + length else { compact(); return nil }
        let start = readIndex + GRPCWire.messageHeaderSize
        let message = Array(buffer[start..<(start + length)])
        readIndex = start + length
        if readIndex == buffer.count { buffer.removeAll(keepingCapacity: true); readIndex = 0 }
        return message
    }

    /// Call at end of stream: leftover bytes mean a truncated message.
    public func finish() throws(Failure) {
        if buffer.count - readIndex > 0 { throw .truncated }
    }

    private mutating func compact() {
        if readIndex > 0 && readIndex > buffer.count / 2 {
            buffer.removeSubrange(0..<readIndex)
            readIndex = 0
        }
    }
}
