/// The generated code of one message field: its property, and its lines in `encode(to:)` and
/// `decodeField(number:wireType:from:)`.
struct FieldCode {
    let field: FieldDecl
    /// The Swift property name, escaped as needed.
    let property: String

    init(_ field: FieldDecl) {
        self.field = field
        property = Naming.fieldName(field.name)
    }

    private var number: Int { field.number }
    private var value: String { "self.\(property)" }

    private enum Shape {
        /// proto3 implicit presence: absent means default, so defaults are not written.
        case implicit(ValueType)
        /// Explicit presence (`optional`, or any singular message): an Optional, written when set.
        case optional(ValueType)
        case repeated(ValueType)
        case map(key: ScalarType, value: ValueType)
    }

    private var shape: Shape {
        if case .map(let key, let valueType) = field.type {
            return .map(key: key, value: ValueType(valueType))
        }
        let element = ValueType(field.type)
        switch field.label {
        case .repeated: return .repeated(element)
        case .optional: return .optional(element)
        case .singular:
            if case .message = element { return .optional(element) }
            return .implicit(element)
        }
    }

    var swiftType: String {
        switch shape {
        case .implicit(let type): type.swiftType
        case .optional(let type): type.swiftType + "?"
        case .repeated(let type): "[\(type.swiftType)]"
        case .map(let key, let valueType): "[\(key.mapKeySwiftType): \(valueType.swiftType)]"
        }
    }

    /// The initial value; nil for Optionals, which start as nil without one.
    var defaultValue: String? {
        switch shape {
        case .implicit(let type): type.defaultValue
        case .optional: nil
        case .repeated: "[]"
        case .map: "[:]"
        }
    }

    var declaration: String {
        "public var \(property): \(swiftType)" + (defaultValue.map { " = \($0)" } ?? "")
    }

    /// Parameter of the memberwise initializer.
    var parameter: String {
        "\(property): \(swiftType) = \(defaultValue ?? "nil")"
    }

    func emitEncode(_ out: inout CodeWriter) {
        switch shape {
        case .implicit(let type):
            out.line("if \(type.isNotDefault(value)) { \(type.write(number, value)) }")
        case .optional(let type):
            out.line("if let value = \(value) { \(type.write(number, "value")) }")
        case .repeated(let type) where type.isPackable:
            out.line("writer.writePacked(\(number), \(value)) { $0.\(type.putMethod)($1) }")
        case .repeated(let type):
            out.line("for element in \(value) { \(type.write(number, "element")) }")
        case .map(let key, let valueType):
            let writeKey = ValueType.scalar(key).write(1, key.mapKeyToValue("$1"), writer: "$0")
            let writeValue = valueType.write(2, "$1", writer: "$0")
            out.line("writer.writeMap(\(number), \(value)) { \(writeKey) } value: { \(writeValue) }")
        }
    }

    func emitDecodeCases(_ out: inout CodeWriter) {
        switch shape {
        case .implicit(let type):
            out.line("case (\(number), \(type.wireType)): \(value) = \(type.read())")
        case .optional(.message):
            out.line("case (\(number), .lengthDelimited): try reader.readMessage(into: &\(value))")
        case .optional(let type):
            // Spell the type out: readEnum() cannot infer its generic parameter through an Optional.
            let read = if case .enumeration = type { "\(type.read()) as \(type.swiftType)" } else { type.read() }
            out.line("case (\(number), \(type.wireType)): \(value) = \(read)")
        case .repeated(let type):
            out.line("case (\(number), \(type.wireType)): \(value).append(\(type.read()))")
            if type.isPackable {
                out.line("case (\(number), .lengthDelimited): try reader.readPacked(into: &\(value)) { \(type.read("$0")) }")
            }
        case .map(let key, let valueType):
            let keyType = ValueType.scalar(key)
            out.line("case (\(number), .lengthDelimited):")
            out.line("    try reader.readMapEntry(")
            out.line("        into: &\(value),")
            out.line("        key: { r, wt in wt == \(keyType.wireType) ? \(key.mapKeyFromValue(keyType.read("r"))) : nil },")
            out.line("        value: { r, wt in wt == \(valueType.wireType) ? \(valueType.read("r")) : nil },")
            out.line("        defaultKey: \(key.mapKeyFromValue(keyType.defaultValue)), defaultValue: \(valueType.defaultValue))")
        }
    }
}

extension ScalarType {
    /// The Swift key type of a `map<K, V>`. String keys are wrapped in `MapKeyString`, which
    /// compares by UTF-8 bytes as protobuf does; Swift `String` merges canonically equivalent keys.
    var mapKeySwiftType: String {
        self == .string ? "MapKeyString" : swiftType
    }

    /// Converts a map key expression to the value that `ProtoWriter` writes.
    func mapKeyToValue(_ key: String) -> String {
        self == .string ? "\(key).string" : key
    }

    /// Converts a value expression (as read by `ProtoReader`, or a default) to a map key.
    func mapKeyFromValue(_ value: String) -> String {
        self == .string ? "MapKeyString(\(value))" : value
    }
}
