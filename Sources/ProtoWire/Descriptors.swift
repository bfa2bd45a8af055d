/// Runtime descriptions of the generated messages, enums and methods, so code can work with any
/// message generically by its proto name (the JSON transcoder in ProtoJSON does).
/// crm-protogen writes one table per module (`<Module>Descriptors.descriptors`).

/// The proto scalar types, spelled as in .proto files.
public enum ProtoScalarKind: String, Sendable, Hashable {
    case double, float, int32, int64, uint32, uint64, sint32, sint64
    case fixed32, fixed64, sfixed32, sfixed64, bool, string, bytes

    /// The wire type of one value of this scalar.
    public var wireType: WireType {
        switch self {
        case .double, .fixed64, .sfixed64: .fixed64
        case .float, .fixed32, .sfixed32: .fixed32
        case .string, .bytes: .lengthDelimited
        default: .varint
        }
    }
}

/// The type of one value of a field (of each element when repeated, of each value when a map).
public enum ProtoValueKind: Sendable, Hashable {
    case scalar(ProtoScalarKind)
    /// An enum, by fully qualified proto name (`crm.leads.v1.LeadSource`).
    case enumeration(String)
    /// A message, by fully qualified proto name.
    case message(String)
}

public struct ProtoFieldDescriptor: Sendable, Hashable {
    public var number: Int
    /// The name in the .proto file (`customer_id`).
    public var name: String
    /// The proto3 JSON name (`customerId`).
    public var jsonName: String
    /// The value type; for a map, the type of its values.
    public var kind: ProtoValueKind
    public var isRepeated: Bool
    /// `optional` in proto3: explicit presence.
    public var hasPresence: Bool
    /// Set for `map<K, V>` fields: the key type (then `isRepeated` is true and `kind` is V).
    public var mapKey: ProtoScalarKind?

    public init(
        _ number: Int, _ name: String, json jsonName: String, _ kind: ProtoValueKind,
        repeated: Bool = false, optional: Bool = false, mapKey: ProtoScalarKind? = nil
    ) {
        self.number = number
        self.name = name
        self.jsonName = jsonName
        self.kind = kind
        self.isRepeated = repeated || mapKey != nil
        self.hasPresence = optional
        self.mapKey = mapKey
    }

    public var isMap: Bool { mapKey != nil }
}

public struct ProtoMessageDescriptor: Sendable, Hashable {
    public var fullName: String
    /// In declaration order.
    public var fields: [ProtoFieldDescriptor]

    public init(_ fullName: String, _ fields: [ProtoFieldDescriptor]) {
        self.fullName = fullName
        self.fields = fields
    }

    public func field(number: Int) -> ProtoFieldDescriptor? { fields.first { $0.number == number } }
}

public struct ProtoEnumDescriptor: Sendable, Hashable {
    public struct Value: Sendable, Hashable {
        public var name: String
        public var number: Int32
        public init(_ name: String, _ number: Int32) {
            self.name = name
            self.number = number
        }
    }

    public var fullName: String
    /// In declaration order (aliases share a number; the first one names it).
    public var values: [Value]

    public init(_ fullName: String, _ values: [Value]) {
        self.fullName = fullName
        self.values = values
    }

    public func name(of number: Int32) -> String? { values.first { $0.number == number }?.name }
    public func number(of name: String) -> Int32? { values.first { $0.name == name }?.number }
}

public struct ProtoMethodDescriptor: Sendable, Hashable {
    /// `/crm.leads.v1.LeadService/CreateLead`
    public var path: String
    public var inputType: String
    public var outputType: String
    public var clientStreaming: Bool
    public var serverStreaming: Bool

    public init(_ path: String, input: String, output: String, clientStreaming: Bool = false, serverStreaming: Bool = false) {
        self.path = path
        self.inputType = input
        self.outputType = output
        self.clientStreaming = clientStreaming
        self.serverStreaming = serverStreaming
    }

    public var isUnary: Bool { !clientStreaming && !serverStreaming }
}

/// Messages, enums and methods by full name (methods by path).
public struct ProtoDescriptorSet: Sendable {
    public private(set) var messages: [String: ProtoMessageDescriptor] = [:]
    public private(set) var enums: [String: ProtoEnumDescriptor] = [:]
    public private(set) var methods: [String: ProtoMethodDescriptor] = [:]

    public init(messages: [ProtoMessageDescriptor] = [], enums: [ProtoEnumDescriptor] = [], methods: [ProtoMethodDescriptor] = []) {
        for message in messages { self.messages[message.fullName] = message }
        for decl in enums { self.enums[decl.fullName] = decl }
        for method in methods { self.methods[method.path] = method }
    }

    /// Both sets' entries; on a clash `other` wins.
    public func merging(_ other: ProtoDescriptorSet) -> ProtoDescriptorSet {
        var result = self
        result.messages.merge(other.messages) { _, new in new }
        result.enums.merge(other.enums) { _, new in new }
        result.methods.merge(other.methods) { _, new in new }
        return result
    }
}
