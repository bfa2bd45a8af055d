/// Appends the wire encoding of fields to a byte buffer.
///
/// `writeX(field, value)` writes a tag and a value unconditionally; generated code decides presence
/// (proto3 omits defaults). `putX(value)` writes a bare value, for packed runs and map entries.
public struct ProtoWriter: Sendable {
    public var bytes: [UInt8]

    public init(capacity: Int = 64) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    // MARK: Bare values

    @inlinable public mutating func putVarint(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }

    public mutating func putTag(_ number: Int, _ wireType: WireType) {
        putVarint(UInt64(number) << 3 | UInt64(wireType.rawValue))
    }

    @inlinable public mutating func putFixed32(_ value: UInt32) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    @inlinable public mutating func putFixed64(_ value: UInt64) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    /// int32 is sign-extended to 64 bits on the wire, so negatives take ten bytes (as the spec says).
    public mutating func putInt32(_ v: Int32) { putVarint(UInt64(bitPattern: Int64(v))) }
    public mutating func putInt64(_ v: Int64) { putVarint(UInt64(bitPattern: v)) }
    public mutating func putUInt32(_ v: UInt32) { putVarint(UInt64(v)) }
    public mutating func putUInt64(_ v: UInt64) { putVarint(v) }
    public mutating func putSInt32(_ v: Int32) {
        putVarint(UInt64(UInt32(bitPattern: (v << 1) ^ (v >> 31))))
    }
    public mutating func putSInt64(_ v: Int64) { putVarint(UInt64(bitPattern: (v << 1) ^ (v >> 63))) }
    public mutating func putSFixed32(_ v: Int32) { putFixed32(UInt32(bitPattern: v)) }
    public mutating func putSFixed64(_ v: Int64) { putFixed64(UInt64(bitPattern: v)) }
    public mutating func putBool(_ v: Bool) { bytes.append(v ? 1 : 0) }
    public mutating func putFloat(_ v: Float) { putFixed32(v.bitPattern) }
    public mutating func putDouble(_ v: Double) { putFixed64(v.bitPattern) }
    public mutating func putEnum<E: ProtoEnum>(_ v: E) { putInt32(v.rawValue) }

    // MARK: Fields

    public mutating func writeInt32(_ field: Int, _ v: Int32) { putTag(field, .varint); putInt32(v) }
    public mutating func writeInt64(_ field: Int, _ v: Int64) { putTag(field, .varint); putInt64(v) }
    public mutating func writeUInt32(_ field: Int, _ v: UInt32) { putTag(field, .varint); putUInt32(v) }
    public mutating func writeUInt64(_ field: Int, _ v: UInt64) { putTag(field, .varint); putUInt64(v) }
    public mutating func writeSInt32(_ field: Int, _ v: Int32) { putTag(field, .varint); putSInt32(v) }
    public mutating func writeSInt64(_ field: Int, _ v: Int64) { putTag(field, .varint); putSInt64(v) }
    public mutating func writeFixed32(_ field: Int, _ v: UInt32) { putTag(field, .fixed32); putFixed32(v) }
    public mutating func writeFixed64(_ field: Int, _ v: UInt64) { putTag(field, .fixed64); putFixed64(v) }
    public mutating func writeSFixed32(_ field: Int, _ v: Int32) { putTag(field, .fixed32); putSFixed32(v) }
    public mutating func writeSFixed64(_ field: Int, _ v: Int64) { putTag(field, .fixed64); putSFixed64(v) }
    public mutating func writeBool(_ field: Int, _ v: Bool) { putTag(field, .varint); putBool(v) }
    public mutating func writeFloat(_ field: Int, _ v: Float) { putTag(field, .fixed32); putFloat(v) }
    public mutating func writeDouble(_ field: Int, _ v: Double) { putTag(field, .fixed64); putDouble(v) }
    public mutating func writeEnum<E: ProtoEnum>(_ field: Int, _ v: E) { putTag(field, .varint); putEnum(v) }

    public mutating func writeString(_ field: Int, _ v: String) {
        putTag(field, .lengthDelimited)
        putVarint(UInt64(v.utf8.count))
        bytes.append(contentsOf: v.utf8)
    }

    public mutating func writeBytes(_ field: Int, _ v: [UInt8]) {
        putTag(field, .lengthDelimited)
        putVarint(UInt64(v.count))
        bytes.append(contentsOf: v)
    }

    public mutating func writeMessage<M: ProtoMessage>(_ field: Int, _ message: M) {
        putTag(field, .lengthDelimited)
        withLengthPrefix { message.encode(to: &$0) }
    }

    /// A packed run of scalars: one tag, one length, the bare values. Empty runs are omitted.
    public mutating func writePacked<T>(_ field: Int, _ values: [T], _ put: (inout ProtoWriter, T) -> Void) {
        guard !values.isEmpty else { return }
        putTag(field, .lengthDelimited)
        withLengthPrefix { writer in
            for value in values { put(&writer, value) }
        }
    }

    /// A map is a repeated entry message whose key is field 1 and value field 2. Both are always
    /// written, and entries go in key order so equal maps encode to equal bytes.
    public mutating func writeMap<K: ProtoMapKey, V>(
        _ field: Int, _ map: [K: V],
        key: (inout ProtoWriter, K) -> Void,
        value: (inout ProtoWriter, V) -> Void
    ) {
        for k in map.keys.sorted(by: K.protoOrder) {
            putTag(field, .lengthDelimited)
            withLengthPrefix { writer in
                key(&writer, k)
                value(&writer, map[k]!)
            }
        }
    }

    /// Writes `body`, then puts its length in front of it. One placeholder byte is reserved, so
    /// only bodies of 128 bytes or more pay for moving their bytes.
    @inlinable public mutating func withLengthPrefix(_ body: (inout ProtoWriter) -> Void) {
        let lengthAt = bytes.count
        bytes.append(0)
        body(&self)
        let length = bytes.count - lengthAt - 1
        if length < 0x80 {
            bytes[lengthAt] = UInt8(length)
        } else {
            var prefix = ProtoWriter(capacity: 10)
            prefix.putVarint(UInt64(length))
            bytes.replaceSubrange(lengthAt..<(lengthAt + 1), with: prefix.bytes)
        }
    }
}
