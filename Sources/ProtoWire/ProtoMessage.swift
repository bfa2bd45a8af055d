/// The protobuf binary wire format, written by hand.
///
/// Generated message types conform to ``ProtoMessage``; they encode field by field into a
/// ``ProtoWriter`` and decode by receiving each tag from a ``ProtoReader``. Everything here is
/// value types and bounds-checked reads: any byte sequence either decodes or throws
/// ``ProtoDecodingError``, it never traps.

/// How a field's payload is laid out on the wire (the low three bits of a tag).
public enum WireType: UInt8, Sendable {
    case varint = 0
    case fixed64 = 1
    case lengthDelimited = 2
    case startGroup = 3
    case endGroup = 4
    case fixed32 = 5
}

/// A message of the protobuf wire format with proto3 semantics.
public protocol ProtoMessage: Sendable, Equatable {
    /// Fully qualified proto name, e.g. `crm.leads.v1.Lead`.
    static var protoMessageName: String { get }
    init()
    /// Writes every field that is present (proto3: non-default, or explicitly set `optional`).
    func encode(to writer: inout ProtoWriter)
    /// Consumes the payload of one field. Unknown numbers and mismatched wire types are skipped.
    mutating func decodeField(number: Int, wireType: WireType, from reader: inout ProtoReader) throws
}

extension ProtoMessage {
    /// Decodes a message from its serialized bytes.
    public init(serializedBytes bytes: [UInt8]) throws {
        self.init()
        var reader = ProtoReader(bytes)
        try merge(from: &reader)
    }

    /// Decodes a message from a slice without copying more than the slice itself.
    public init(serializedBytes bytes: ArraySlice<UInt8>) throws {
        try self.init(serializedBytes: Array(bytes))
    }

    /// Merges every field in `reader` into `self`, as protobuf parsing of concatenated messages does.
    public mutating func merge(from reader: inout ProtoReader) throws {
        while let (number, wireType) = try reader.nextTag() {
            try decodeField(number: number, wireType: wireType, from: &reader)
        }
    }

    /// The canonical encoding: fields in number order, packed repeated scalars, defaults omitted.
    public func serializedBytes() -> [UInt8] {
        var writer = ProtoWriter()
        encode(to: &writer)
        return writer.bytes
    }
}

/// An enum of a proto file. Values outside the declared set are kept as their number (proto3 open enums).
public protocol ProtoEnum: Sendable, Hashable, CaseIterable {
    init(rawValue: Int32)
    var rawValue: Int32 { get }
}

/// Why a byte sequence is not a valid encoding of the expected message.
public struct ProtoDecodingError: Error, Sendable, Equatable, CustomStringConvertible {
    public var reason: String
    /// Byte offset in the buffer being decoded where the problem was found.
    public var offset: Int

    public init(_ reason: String, at offset: Int) {
        self.reason = reason
        self.offset = offset
    }

    public var description: String { "malformed protobuf: \(reason) at byte \(offset)" }
}

/// A key type of a proto `map<K, V>`; the order gives deterministic encodings (entries sorted by key,
/// as the reference implementation's deterministic mode does).
public protocol ProtoMapKey: Hashable, Sendable {
    static func protoOrder(_ a: Self, _ b: Self) -> Bool
}

/// Generated `map<string, V>` fields use ``MapKeyString`` instead: `String` keys would merge
/// canonically equivalent but distinct byte strings.
extension String: ProtoMapKey {
    public static func protoOrder(_ a: String, _ b: String) -> Bool {
        a.utf8.lexicographicallyPrecedes(b.utf8)
    }
}
extension Bool: ProtoMapKey {
    public static func protoOrder(_ a: Bool, _ b: Bool) -> Bool { !a && b }
}
extension Int32: ProtoMapKey { public static func protoOrder(_ a: Int32, _ b: Int32) -> Bool { a < b } }
extension Int64: ProtoMapKey { public static func protoOrder(_ a: Int64, _ b: Int64) -> Bool { a < b } }
extension UInt32: ProtoMapKey { public static func protoOrder(_ a: UInt32, _ b: UInt32) -> Bool { a < b } }
extension UInt64: ProtoMapKey { public static func protoOrder(_ a: UInt64, _ b: UInt64) -> Bool { a < b } }
