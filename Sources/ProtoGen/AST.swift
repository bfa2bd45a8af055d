/// The declarations of one .proto file, as parsed and then resolved.
///
/// The parser fills everything but resolved type references (`FieldType.named`); the resolver
/// replaces those with `.message` / `.enumeration` pointing at the declaring type.
struct ProtoFile {
    /// Path relative to the proto root, e.g. `crm/leads/v1/leads.proto`.
    var path: String
    /// Dotted package, empty when the file declares none.
    var package: String
    var packageLocation: SourceLocation?
    var imports: [Import]
    var messages: [MessageDecl]
    var enums: [EnumDecl]
    var services: [ServiceDecl]

    struct Import {
        var path: String
        /// `import public` re-exports the imported file's types to whoever imports this one.
        var isPublic: Bool
        var location: SourceLocation
    }
}

struct MessageDecl {
    var name: String
    var comment: [String]
    var location: SourceLocation
    var fields: [FieldDecl]
    var messages: [MessageDecl]
    var enums: [EnumDecl]
    var reserved: ReservedSet
}

struct FieldDecl {
    enum Label { case singular, optional, repeated }

    var name: String
    var number: Int
    var label: Label
    var type: FieldType
    var comment: [String]
    var location: SourceLocation
}

indirect enum FieldType {
    case scalar(ScalarType)
    /// A type name as written (`Foo.Bar`, `.pkg.Foo`), before resolution.
    case named(String)
    case message(TypeSymbol)
    case enumeration(TypeSymbol)
    /// Keys are always scalars (integral, bool or string); values may be any non-map type.
    case map(key: ScalarType, value: FieldType)
}

enum ScalarType: String, CaseIterable {
    case double, float, int32, int64, uint32, uint64, sint32, sint64
    case fixed32, fixed64, sfixed32, sfixed64, bool, string, bytes

    /// Types allowed as map keys by the protobuf spec.
    var isValidMapKey: Bool {
        switch self {
        case .double, .float, .bytes: false
        default: true
        }
    }
}

struct EnumDecl {
    var name: String
    var comment: [String]
    var location: SourceLocation
    var values: [EnumValueDecl]
    var reserved: ReservedSet
}

struct EnumValueDecl {
    var name: String
    var number: Int32
    var comment: [String]
    var location: SourceLocation
}

struct ServiceDecl {
    var name: String
    var comment: [String]
    var location: SourceLocation
    var rpcs: [RPCDecl]
}

struct RPCDecl {
    var name: String
    var requestType: FieldType
    var requestStreaming: Bool
    var responseType: FieldType
    var responseStreaming: Bool
    var comment: [String]
    var location: SourceLocation
}

/// Numbers and names a `reserved` statement takes out of use.
struct ReservedSet {
    var ranges: [ClosedRange<Int>] = []
    var names: Set<String> = []

    func contains(_ number: Int) -> Bool { ranges.contains { $0.contains(number) } }
}

/// A message or enum the resolver found, with everything the emitter needs to refer to it.
struct TypeSymbol: Equatable {
    enum Kind { case message, enumeration }

    var kind: Kind
    /// Fully qualified proto name without the leading dot, e.g. `crm.leads.v1.Lead`.
    var fullName: String
    /// The Swift type, e.g. `Crm_Leads_V1_Lead` or `Crm_Leads_V1_Outer.Inner`.
    var swiftName: String
    /// The declaring file (relative to the proto root).
    var file: String
    /// Enums only: the Swift case of the value numbered 0, the proto3 default.
    var zeroCase: String?
}
