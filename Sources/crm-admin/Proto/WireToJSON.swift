import Foundation
import ProtoWire

/// Protobuf binary → proto3 JSON, driven by the schema: the mapping every stock implementation
/// uses (lowerCamelCase names, enums by name, 64-bit integers and bytes as strings, defaults
/// omitted unless the field has presence, unknown fields dropped).
struct WireToJSON {
    let schema: ProtoSchema

    func object(from bytes: [UInt8], message name: String) throws -> JSONValue {
        var reader = ProtoReader(bytes)
        return try object(from: &reader, message: try schema.message(name))
    }

    /// What one field number collected while reading (repeated fields and merges need all of it).
    private enum Collected {
        case values([JSONValue])
        case messageBytes([UInt8])
        case map([(key: String, value: JSONValue)])
    }

    private func object(from reader: inout ProtoReader, message: MessageSchema) throws -> JSONValue {
        var collected: [Int: Collected] = [:]
        while let (number, wireType) = try reader.nextTag() {
            guard let field = message.field(number: number) else {
                try reader.skip(wireType, number: number)
                continue
            }
            switch field.kind {
            case .map(let keyType, let valueKind):
                guard wireType == .lengthDelimited else { try reader.skip(wireType); continue }
                var entry = try reader.subReader()
                let pair = try mapEntry(from: &entry, key: keyType, value: valueKind)
                var entries: [(key: String, value: JSONValue)] = []
                if case .map(let existing) = collected[number] { entries = existing }
                entries.removeAll { $0.key == pair.key }
                entries.append(pair)
                collected[number] = .map(entries)
            case .message(let typeName):
                guard wireType == .lengthDelimited else { try reader.skip(wireType); continue }
                if field.isRepeated {
                    var sub = try reader.subReader()
                    let value = try object(from: &sub, message: try schema.message(typeName))
                    var values: [JSONValue] = []
                    if case .values(let existing) = collected[number] { values = existing }
                    collected[number] = .values(values + [value])
                } else {
                    // Repeated occurrences of a singular message merge, as protobuf parsing does.
                    let payload = try reader.readBytes()
                    var bytes: [UInt8] = []
                    if case .messageBytes(let existing) = collected[number] { bytes = existing }
                    collected[number] = .messageBytes(bytes + payload)
                }
            case .scalar, .enumeration:
                guard let scalars = try scalarValues(from: &reader, wireType: wireType, field: field) else { continue }
                if field.isRepeated {
                    var values: [JSONValue] = []
                    if case .values(let existing) = collected[number] { values = existing }
                    collected[number] = .values(values + scalars.map(\.json))
                } else if let last = scalars.last {
                    // Last one wins; a default value without presence is not written.
                    collected[number] = last.isDefault && !field.hasPresence ? nil : .values([last.json])
                }
            case .unresolved:
                try reader.skip(wireType)
            }
        }
        var object = JSONObject()
        for field in message.fields {
            guard let value = collected[field.number] else { continue }
            switch value {
            case .map(let entries):
                guard !entries.isEmpty else { continue }
                object.entries.append((field.jsonName, .object(JSONObject(entries))))
            case .messageBytes(let bytes):
                guard case .message(let typeName) = field.kind else { continue }
                var sub = ProtoReader(bytes)
                object.entries.append((field.jsonName, try self.object(from: &sub, message: try schema.message(typeName))))
            case .values(let values):
                if field.isRepeated {
                    if !values.isEmpty { object.entries.append((field.jsonName, .array(values))) }
                } else if let single = values.last {
                    object.entries.append((field.jsonName, single))
                }
            }
        }
        return .object(object)
    }

    /// One scalar or enum occurrence, or a packed run; nil when the wire type does not fit the field.
    private func scalarValues(from reader: inout ProtoReader, wireType: WireType, field: FieldSchema) throws -> [Scalar]? {
        let expected = Self.wireType(of: field.kind)
        if wireType == expected {
            return [try value(from: &reader, kind: field.kind)]
        }
        if wireType == .lengthDelimited, field.isRepeated, expected != .lengthDelimited {
            var packed = try reader.subReader()
            var values: [Scalar] = []
            while !packed.isAtEnd { values.append(try value(from: &packed, kind: field.kind)) }
            return values
        }
        try reader.skip(wireType)
        return nil
    }

    static func wireType(of kind: FieldKind) -> WireType {
        switch kind {
        case .scalar(let scalar):
            switch scalar {
            case .double, .fixed64, .sfixed64: .fixed64
            case .float, .fixed32, .sfixed32: .fixed32
            case .string, .bytes: .lengthDelimited
            default: .varint
            }
        case .enumeration: .varint
        default: .lengthDelimited
        }
    }

    private func mapEntry(from reader: inout ProtoReader, key keyType: ScalarType, value valueKind: FieldKind) throws
        -> (key: String, value: JSONValue) {
        var key: JSONValue = defaultValue(of: .scalar(keyType))
        var value: JSONValue = defaultValue(of: valueKind)
        while let (number, wireType) = try reader.nextTag() {
            if number == 1, wireType == Self.wireType(of: .scalar(keyType)) {
                key = try self.value(from: &reader, kind: .scalar(keyType)).json
            } else if number == 2, wireType == Self.wireType(of: valueKind) {
                if case .message(let typeName) = valueKind {
                    var sub = try reader.subReader()
                    value = try object(from: &sub, message: try schema.message(typeName))
                } else {
                    value = try self.value(from: &reader, kind: valueKind).json
                }
            } else {
                try reader.skip(wireType)
            }
        }
        let keyText: String
        switch key {
        case .string(let text): keyText = text
        case .number(let text): keyText = text
        case .bool(let flag): keyText = flag ? "true" : "false"
        default: keyText = ""
        }
        return (keyText, value)
    }

    /// A decoded scalar and whether it is its type's default (proto3 omits those).
    struct Scalar {
        var json: JSONValue
        var isDefault: Bool
    }

    private func value(from reader: inout ProtoReader, kind: FieldKind) throws -> Scalar {
        func integer<T: BinaryInteger>(_ value: T, asString: Bool) -> Scalar {
            Scalar(json: asString ? .string(String(value)) : .number(String(value)), isDefault: value == 0)
        }
        switch kind {
        case .enumeration(let typeName):
            let number = try reader.readInt32()
            let json = schema.enums[typeName]?.name(of: number).map(JSONValue.string) ?? .number(String(number))
            return Scalar(json: json, isDefault: number == 0)
        case .scalar(let scalar):
            switch scalar {
            case .int32: return integer(try reader.readInt32(), asString: false)
            case .int64: return integer(try reader.readInt64(), asString: true)
            case .uint32: return integer(try reader.readUInt32(), asString: false)
            case .uint64: return integer(try reader.readUInt64(), asString: true)
            case .sint32: return integer(try reader.readSInt32(), asString: false)
            case .sint64: return integer(try reader.readSInt64(), asString: true)
            case .fixed32: return integer(try reader.readFixed32(), asString: false)
            case .fixed64: return integer(try reader.readFixed64(), asString: true)
            case .sfixed32: return integer(try reader.readSFixed32(), asString: false)
            case .sfixed64: return integer(try reader.readSFixed64(), asString: true)
            case .bool:
                let flag = try reader.readBool()
                return Scalar(json: .bool(flag), isDefault: !flag)
            case .float:
                let number = try reader.readFloat()
                return Scalar(json: Self.floating(number.isFinite ? "\(number)" : nil, Double(number)),
                              isDefault: number.bitPattern == 0)
            case .double:
                let number = try reader.readDouble()
                return Scalar(json: Self.floating(number.isFinite ? "\(number)" : nil, number), isDefault: number.bitPattern == 0)
            case .string:
                let text = try reader.readString()
                return Scalar(json: .string(text), isDefault: text.isEmpty)
            case .bytes:
                let bytes = try reader.readBytes()
                return Scalar(json: .string(Data(bytes).base64EncodedString()), isDefault: bytes.isEmpty)
            }
        default:
            throw ProtoSchemaError("internal: value(from:) called for a message field")
        }
    }

    /// Finite numbers as their shortest round-trip text; NaN and infinities as the strings proto3 JSON names.
    static func floating(_ text: String?, _ value: Double) -> JSONValue {
        if let text { return .number(text) }
        if value.isNaN { return .string("NaN") }
        return .string(value < 0 ? "-Infinity" : "Infinity")
    }

    func defaultValue(of kind: FieldKind) -> JSONValue {
        switch kind {
        case .scalar(let scalar):
            switch scalar {
            case .bool: return .bool(false)
            case .string, .bytes: return .string("")
            case _ where scalar.is64Bit: return .string("0")
            default: return .number("0")
            }
        case .enumeration(let typeName):
            return schema.enums[typeName]?.name(of: 0).map(JSONValue.string) ?? .number("0")
        case .message: return .object(JSONObject())
        default: return .null
        }
    }
}
