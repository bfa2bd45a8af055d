/// The key of a `map<string, V>` field. Swift `String` equality and hashing use Unicode canonical
/// equivalence ("é" == "e\u{301}"), but protobuf map keys are distinct byte strings, so this
/// wrapper compares, hashes and orders by the exact UTF-8 bytes.
public struct MapKeyString: Hashable, Sendable, Comparable, ProtoMapKey,
    ExpressibleByStringLiteral, CustomStringConvertible, CustomDebugStringConvertible {
    public var string: String

    public init(_ string: String) {
        self.string = string
    }

    public init(stringLiteral value: String) {
        self.string = value
    }

    public static func == (a: MapKeyString, b: MapKeyString) -> Bool {
        a.string.utf8.elementsEqual(b.string.utf8)
    }

    public func hash(into hasher: inout Hasher) {
        var contiguous = string  // withUTF8 makes a copy contiguous if it is not already
        contiguous.withUTF8 { bytes in
            hasher.combine(bytes.count)
            hasher.combine(bytes: UnsafeRawBufferPointer(bytes))
        }
    }

    /// Byte-wise lexicographic order of the UTF-8 encodings (which is also code point order).
    public static func < (a: MapKeyString, b: MapKeyString) -> Bool {
        a.string.utf8.lexicographicallyPrecedes(b.string.utf8)
    }

    public static func protoOrder(_ a: MapKeyString, _ b: MapKeyString) -> Bool { a < b }

    public var description: String { string }
    public var debugDescription: String { string.debugDescription }
}
