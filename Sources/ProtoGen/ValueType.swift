/// The Swift spelling of one proto value type: its Swift type, default, wire type, and the
/// ProtoWriter / ProtoReader calls that encode and decode it.
enum ValueType {
    case scalar(ScalarType)
    case enumeration(TypeSymbol)
    case message(TypeSymbol)

    /// The element type of a field (for repeated fields, of each element). Maps are handled apart.
    init(_ type: FieldType) {
        switch type {
        case .scalar(let scalar): self = .scalar(scalar)
        case .enumeration(let symbol): self = .enumeration(symbol)
        case .message(let symbol): self = .message(symbol)
        case .named(let name): preconditionFailure("unresolved type \(name) reached the emitter")
        case .map: preconditionFailure("a map is not a single value type")
        }
    }

    var swiftType: String {
        switch self {
        case .scalar(let scalar): scalar.swiftType
        case .enumeration(let symbol), .message(let symbol): symbol.swiftName
        }
    }

    /// The proto3 default: what an absent field reads as.
    var defaultValue: String {
        switch self {
        case .scalar(let scalar): scalar.defaultValue
        case .enumeration(let symbol): "." + symbol.zeroCase!
        case .message(let symbol): "\(symbol.swiftName)()"
        }
    }

    var wireType: String {
        switch self {
        case .scalar(let scalar): scalar.wireType
        case .enumeration: ".varint"
        case .message: ".lengthDelimited"
        }
    }

    /// Numeric, bool and enum values are packed when repeated; strings, bytes and messages are not.
    var isPackable: Bool {
        switch self {
        case .scalar(let scalar): scalar.wireType != ".lengthDelimited"
        case .enumeration: true
        case .message: false
        }
    }

    /// The ProtoWriter/ProtoReader method suffix: `writeInt32`, `putInt32`, `readInt32`.
    private var methodSuffix: String {
        switch self {
        case .scalar(let scalar): scalar.methodSuffix
        case .enumeration: "Enum"
        case .message: "Message"
        }
    }

    func write(_ number: Int, _ value: String, writer: String = "writer") -> String {
        "\(writer).write\(methodSuffix)(\(number), \(value))"
    }

    /// A bare value inside a packed run.
    var putMethod: String { "put\(methodSuffix)" }

    func read(_ reader: String = "reader") -> String {
        switch self {
        case .message(let symbol): "try \(reader).readMessage(\(symbol.swiftName).self)"
        default: "try \(reader).read\(methodSuffix)()"
        }
    }

    /// The condition under which an implicit-presence (plain proto3) field is written.
    func isNotDefault(_ value: String) -> String {
        switch self {
        case .scalar(let scalar): scalar.isNotDefault(value)
        case .enumeration: "\(value).rawValue != 0"
        case .message: "true"
        }
    }
}

extension ScalarType {
    var swiftType: String {
        switch self {
        case .double: "Double"
        case .float: "Float"
        case .int32, .sint32, .sfixed32: "Int32"
        case .int64, .sint64, .sfixed64: "Int64"
        case .uint32, .fixed32: "UInt32"
        case .uint64, .fixed64: "UInt64"
        case .bool: "Bool"
        case .string: "String"
        case .bytes: "[UInt8]"
        }
    }

    var defaultValue: String {
        switch self {
        case .bool: "false"
        case .string: "\"\""
        case .bytes: "[]"
        default: "0"
        }
    }

    var wireType: String {
        switch self {
        case .double, .fixed64, .sfixed64: ".fixed64"
        case .float, .fixed32, .sfixed32: ".fixed32"
        case .string, .bytes: ".lengthDelimited"
        default: ".varint"
        }
    }

    var methodSuffix: String {
        switch self {
        case .double: "Double"
        case .float: "Float"
        case .int32: "Int32"
        case .int64: "Int64"
        case .uint32: "UInt32"
        case .uint64: "UInt64"
        case .sint32: "SInt32"
        case .sint64: "SInt64"
        case .fixed32: "Fixed32"
        case .fixed64: "Fixed64"
        case .sfixed32: "SFixed32"
        case .sfixed64: "SFixed64"
        case .bool: "Bool"
        case .string: "String"
        case .bytes: "Bytes"
        }
    }

    func isNotDefault(_ value: String) -> String {
        switch self {
        // Compare bits so -0.0 is written, as the reference implementations do.
        case .double, .float: "\(value).bitPattern != 0"
        case .bool: value
        case .string, .bytes: "!\(value).isEmpty"
        default: "\(value) != 0"
        }
    }
}
