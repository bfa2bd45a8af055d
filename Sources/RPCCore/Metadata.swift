/// Custom metadata of a call: ordered key/value pairs, keys lower-case ASCII. Keys ending in
/// `-bin` carry bytes (base64 on the wire); all others carry printable ASCII text.
public struct Metadata: Sendable, Equatable, Sequence {
    public enum Value: Sendable, Equatable {
        case string(String)
        case binary([UInt8])
    }

    public private(set) var entries: [(key: String, value: Value)] = []

    public init() {}

    public init(_ elements: [(String, String)]) {
        for (k, v) in elements { add(k, v) }
    }

    public static func == (a: Metadata, b: Metadata) -> Bool {
        a.entries.elementsEqual(b.entries) { $0.key == $1.key && $0.value == $1.value }
    }

    public mutating func add(_ key: String, _ value: String) {
        entries.append((key.lowercased(), .string(value)))
    }

    public mutating func add(_ key: String, binary value: [UInt8]) {
        entries.append((key.lowercased(), .binary(value)))
    }

    public mutating func add(_ key: String, _ value: Value) {
        entries.append((key.lowercased(), value))
    }

    /// Adds an entry whose key is lower-case already (HTTP/2 header names always are), without the
    /// copy `add` makes to lower-case it.
    public mutating func add(lowercasedKey key: String, _ value: Value) {
        entries.append((key, value))
    }

    public mutating func replace(_ key: String, _ value: String) {
        remove(key)
        add(key, value)
    }

    public mutating func remove(_ key: String) {
        let k = key.lowercased()
        entries.removeAll { $0.key == k }
    }

    /// The first text value for `key`.
    public subscript(_ key: String) -> String? {
        let k = Self.lowercased(key)
        for entry in entries where entry.key == k {
            if case .string(let s) = entry.value { return s }
        }
        return nil
    }

    /// The first binary value for a `-bin` key.
    public func binary(_ key: String) -> [UInt8]? {
        let k = Self.lowercased(key)
        for entry in entries where entry.key == k {
            if case .binary(let b) = entry.value { return b }
        }
        return nil
    }

    /// `key` itself when it has no upper-case letter (the usual lookup), so a lookup allocates nothing.
    private static func lowercased(_ key: String) -> String {
        key.utf8.contains { $0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z") } ? key.lowercased() : key
    }

    public var isEmpty: Bool { entries.isEmpty }

    public func makeIterator() -> IndexingIterator<[(key: String, value: Value)]> {
        entries.makeIterator()
    }

    /// Headers that belong to the HTTP/2 or gRPC layer rather than to the application.
    public static func isReserved(_ key: String) -> Bool {
        key.hasPrefix(":") || key.hasPrefix("grpc-") || reservedKeys.contains(key)
    }

    static let reservedKeys: Set<String> = [
        "content-type", "te", "user-agent", "content-length", "host", "connection",
        "transfer-encoding", "keep-alive", "upgrade", "accept-encoding", "content-encoding",
    ]
}
