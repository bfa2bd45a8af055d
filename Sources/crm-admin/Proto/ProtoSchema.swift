/// The shape of every message and enum in proto/, read at run time so crm-admin can turn any
/// record into proto3 JSON and back without code generated for JSON. Only what the JSON mapping
/// needs is kept: field numbers, names, labels and types.
struct ProtoSchema: Sendable {
    var messages: [String: MessageSchema] = [:]
    var enums: [String: EnumSchema] = [:]

    func message(_ fullName: String) throws -> MessageSchema {
        guard let message = messages[fullName] else {
            throw ProtoSchemaError("message \(fullName) is not in the proto files crm-admin read")
        }
        return message
    }
}

struct ProtoSchemaError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

enum ScalarType: String, Sendable, CaseIterable {
    case double, float, int32, int64, uint32, uint64, sint32, sint64
    case fixed32, fixed64, sfixed32, sfixed64, bool, string, bytes

    /// Numeric types travel packed when repeated (proto3 default).
    var isPackable: Bool { self != .string && self != .bytes }

    /// 64-bit integers are JSON strings in the proto3 mapping (JavaScript numbers lose precision).
    var is64Bit: Bool { [.int64, .uint64, .sint64, .fixed64, .sfixed64].contains(self) }
}

indirect enum FieldKind: Sendable {
    case scalar(ScalarType)
    case message(String)
    case enumeration(String)
    case map(key: ScalarType, value: FieldKind)
    /// A type name before resolution (only inside the parser).
    case unresolved(String)
}

struct FieldSchema: Sendable {
    enum Label: Sendable { case singular, optional, repeated }

    var name: String
    var jsonName: String
    var number: Int
    var label: Label
    var kind: FieldKind
    /// Declared inside a `oneof`: has presence like an `optional` field.
    var inOneof = false

    /// Whether a default value is still "set" (and so written and exported): optional, oneof and message fields.
    var hasPresence: Bool {
        if label == .optional || inOneof { return true }
        if case .message = kind, label == .singular { return true }
        return false
    }

    var isRepeated: Bool { label == .repeated }
    var isMap: Bool { if case .map = kind { true } else { false } }

    /// protoc's default JSON name: snake_case to lowerCamelCase.
    static func jsonName(for name: String) -> String {
        var result = ""
        var upperNext = false
        for character in name {
            if character == "_" {
                upperNext = true
            } else if upperNext {
                result += character.uppercased()
                upperNext = false
            } else {
                result.append(character)
            }
        }
        return result
    }
}

struct MessageSchema: Sendable {
    var fullName: String
    var fields: [FieldSchema]

    func field(number: Int) -> FieldSchema? { fields.first { $0.number == number } }

    /// A field by its JSON name or its proto name (parsers accept both).
    func field(named name: String) -> FieldSchema? {
        fields.first { $0.jsonName == name } ?? fields.first { $0.name == name }
    }
}

struct EnumSchema: Sendable {
    var fullName: String
    var values: [(name: String, number: Int32)]

    func name(of number: Int32) -> String? { values.first { $0.number == number }?.name }
    func number(of name: String) -> Int32? { values.first { $0.name == name }?.number }
}
