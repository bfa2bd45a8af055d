/// Reads fields of the wire format from a buffer, checking every bound.
///
/// A reader is a window `[position, end)` over a shared array, so nested messages and packed runs
/// are read through sub-readers without copying.
public struct ProtoReader: Sendable {
    @usableFromInline let bytes: [UInt8]
    @usableFromInline var position: Int
    @usableFromInline let end: Int
    /// Groups (deprecated, only ever skipped) nest; this bounds how deep garbage can make us recurse.
    var groupDepth = 0

    public init(_ bytes: [UInt8]) {
        self.bytes = bytes
        position = 0
        end = bytes.count
    }

    init(bytes: [UInt8], position: Int, end: Int) {
        self.bytes = bytes
        self.position = position
        self.end = end
    }

    public var isAtEnd: Bool { position >= end }

    func error(_ reason: String) -> ProtoDecodingError { ProtoDecodingError(reason, at: position) }

    // MARK: Tags

    /// The next field's number and wire type, or nil at the end of the message.
    public mutating func nextTag() throws -> (Int, WireType)? {
        guard position < end else { return nil }
        let tagAt = position
        let tag = try readVarint()
        let number = tag >> 3
        guard number >= 1, number <= 0x1FFF_FFFF else {
            throw ProtoDecodingError("field number \(number) out of range", at: tagAt)
        }
        guard let wireType = WireType(rawValue: UInt8(tag & 7)) else {
            throw ProtoDecodingError("invalid wire type \(tag & 7)", at: tagAt)
        }
        if wireType == .endGroup {
            throw ProtoDecodingError("end-group tag without a start", at: tagAt)
        }
        return (Int(number), wireType)
    }

    /// Skips the payload of a field this message does not know (or whose wire type does not match).
    public mutating func skip(_ wireType: WireType, number: Int = 0) throws {
        switch wireType {
        case .varint: _ = try readVarint()
        case .fixed64: _ = try readFixed64()
        case .fixed32: _ = try readFixed32()
        case .lengthDelimited: _ = try readLengthDelimitedRange()
        case .startGroup:
            guard groupDepth < 64 else { throw error("groups nested too deep") }
            groupDepth += 1
            defer { groupDepth -= 1 }
            while true {
                guard position < end else { throw error("unterminated group") }
                let tagAt = position
                let tag = try readVarint()
                guard let inner = WireType(rawValue: UInt8(tag & 7)), tag >> 3 >= 1 else {
                    throw ProtoDecodingError("invalid tag in group", at: tagAt)
                }
                if inner == .endGroup {
                    guard Int(tag >> 3) == number else {
                        throw ProtoDecodingError("mismatched end-group tag", at: tagAt)
                    }
                    return
                }
                try skip(inner, number: Int(tag >> 3))
            }
        case .endGroup: throw error("unexpected end-group tag")
        }
    }

    /// Skips the field just read by ``nextTag()``; `number` is needed only to match a group's end.
    public mutating func skipField(number: Int, wireType: WireType) throws {
        try skip(wireType, number: number)
    }

    // MARK: Raw values

    @inlinable public mutating func readVarint() throws -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            guard position < end else { throw ProtoDecodingError("truncated varint", at: position) }
            let byte = bytes[position]
            position += 1
            if shift == 63, byte > 1 {
                throw ProtoDecodingError("varint overflows 64 bits", at: position - 1)
            }
            result |= UInt64(byte & 0x7F) << shift
            if byte < 0x80 { return result }
            shift += 7
            if shift > 63 { throw ProtoDecodingError("varint longer than 10 bytes", at: position) }
        }
    }

    public mutating func readFixed32() throws -> UInt32 {
        guard end - position >= 4 else { throw error("truncated fixed32") }
        var v: UInt32 = 0
        for i in 0..<4 { v |= UInt32(bytes[position + i]) << (8 * UInt32(i)) }
        position += 4
        return v
    }

    public mutating func readFixed64() throws -> UInt64 {
        guard end - position >= 8 else { throw error("truncated fixed64") }
        var v: UInt64 = 0
        for i in 0..<8 { v |= UInt64(bytes[position + i]) << (8 * UInt64(i)) }
        position += 8
        return v
    }

    mutating func readLengthDelimitedRange() throws -> Range<Int> {
        let lengthAt = position
        let length = try readVarint()
        guard length <= UInt64(end - position) else {
            throw ProtoDecodingError("length \(length) runs past the end of the message", at: lengthAt)
        }
        let start = position
        position += Int(length)
        return start..<position
    }

    /// A reader over the next length-delimited payload, advancing past it.
    public mutating func subReader() throws -> ProtoReader {
        let range = try readLengthDelimitedRange()
        return ProtoReader(bytes: bytes, position: range.lowerBound, end: range.upperBound)
    }

    // MARK: Typed values (the wire type has already been checked by the caller)

    public mutating func readInt32() throws -> Int32 { Int32(truncatingIfNeeded: try readVarint()) }
    public mutating func readInt64() throws -> Int64 { Int64(bitPattern: try readVarint()) }
    public mutating func readUInt32() throws -> UInt32 { UInt32(truncatingIfNeeded: try readVarint()) }
    public mutating func readUInt64() throws -> UInt64 { try readVarint() }
    public mutating func readSInt32() throws -> Int32 {
        let n = UInt32(truncatingIfNeeded: try readVarint())
        return Int32(bitPattern: (n >> 1) ^ (0 &- (n & 1)))
    }
    public mutating func readSInt64() throws -> Int64 {
        let n = try readVarint()
        return Int64(bitPattern: (n >> 1) ^ (0 &- (n & 1)))
    }
    public mutating func readSFixed32() throws -> Int32 { Int32(bitPattern: try readFixed32()) }
    public mutating func readSFixed64() throws -> Int64 { Int64(bitPattern: try readFixed64()) }
    public mutating func readBool() throws -> Bool { try readVarint() != 0 }
    public mutating func readFloat() throws -> Float { Float(bitPattern: try readFixed32()) }
    public mutating func readDouble() throws -> Double { Double(bitPattern: try readFixed64()) }
    public mutating func readEnum<E: ProtoEnum>() throws -> E { E(rawValue: try readInt32()) }

    public mutating func readString() throws -> String {
        let at = position
        let range = try readLengthDelimitedRange()
        guard let s = String(validating: bytes[range], as: UTF8.self) else {
            throw ProtoDecodingError("string field is not valid UTF-8", at: at)
        }
        return s
    }

    public mutating func readBytes() throws -> [UInt8] {
        Array(bytes[try readLengthDelimitedRange()])
    }

    /// Decodes a sub-message, merging into an existing value as protobuf does for repeated occurrences.
    public mutating func readMessage<M: ProtoMessage>(into existing: inout M?) throws {
        var sub = try subReader()
        var message = existing ?? M()
        try message.merge(from: &sub)
        existing = message
    }

    public mutating func readMessage<M: ProtoMessage>(into existing: inout M) throws {
        var sub = try subReader()
        try existing.merge(from: &sub)
    }

    public mutating func readMessage<M: ProtoMessage>(_ type: M.Type = M.self) throws -> M {
        var message = M()
        try readMessage(into: &message)
        return message
    }

    /// Appends the elements of a packed run.
    public mutating func readPacked<T>(into values: inout [T], _ element: (inout ProtoReader) throws -> T) throws {
        var sub = try subReader()
        while !sub.isAtEnd { values.append(try element(&sub)) }
    }

    /// Reads one map entry; a missing key or value takes its default, as the spec says.
    public mutating func readMapEntry<K: ProtoMapKey, V>(
        into map: inout [K: V],
        key: (inout ProtoReader, WireType) throws -> K?,
        value: (inout ProtoReader, WireType) throws -> V?,
        defaultKey: K, defaultValue: @autoclosure () -> V
    ) throws {
        var sub = try subReader()
        var k: K?
        var v: V?
        while let (number, wireType) = try sub.nextTag() {
            switch number {
            case 1:
                if let read = try key(&sub, wireType) { k = read } else { try sub.skip(wireType, number: 1) }
            case 2:
                if let read = try value(&sub, wireType) { v = read } else { try sub.skip(wireType, number: 2) }
            default:
                try sub.skip(wireType, number: number)
            }
        }
        map[k ?? defaultKey] = v ?? defaultValue()
    }
}
