/// Emits a message as a `ProtoMessage` struct, with its nested messages and enums inside it.
enum MessageEmitter {
    /// `declaredName` is the name in the declaration: `Crm_Leads_V1_Lead` at top level, `Inner` nested.
    static func emit(_ message: MessageDecl, fullName: String, declaredName: String, into out: inout CodeWriter) {
        let fields = message.fields.map(FieldCode.init)
        let numbered = fields.sorted { $0.field.number < $1.field.number }
        out.doc(message.comment)
        out.block("public struct \(declaredName): ProtoMessage") { out in
            out.line("public static let protoMessageName = \"\(fullName)\"")
            for field in fields {
                out.line()
                out.doc(field.field.comment)
                out.line(field.declaration)
            }
            out.line()
            out.line("public init() {}")
            if !fields.isEmpty {
                out.line()
                emitMemberwiseInit(fields, into: &out)
            }
            out.line()
            out.block("public func encode(to writer: inout ProtoWriter)") { out in
                for field in numbered { field.emitEncode(&out) }
            }
            out.line()
            emitDecode(numbered, into: &out)
            for nested in message.enums {
                out.line()
                EnumEmitter.emit(nested, declaredName: Naming.nestedTypeName(nested.name), into: &out)
            }
            for nested in message.messages {
                out.line()
                emit(nested, fullName: qualified(fullName, nested.name),
                     declaredName: Naming.nestedTypeName(nested.name), into: &out)
            }
        }
    }

    private static func emitMemberwiseInit(_ fields: [FieldCode], into out: inout CodeWriter) {
        out.line("public init(")
        for (i, field) in fields.enumerated() {
            out.line("    " + field.parameter + (i == fields.count - 1 ? "" : ","))
        }
        out.block(")") { out in
            for field in fields { out.line("self.\(field.property) = \(field.property)") }
        }
    }

    private static func emitDecode(_ fields: [FieldCode], into out: inout CodeWriter) {
        let signature = "public mutating func decodeField(number: Int, wireType: WireType, from reader: inout ProtoReader) throws"
        out.block(signature) { out in
            guard !fields.isEmpty else {
                out.line("try reader.skipField(number: number, wireType: wireType)")
                return
            }
            out.line("switch (number, wireType) {")
            for field in fields { field.emitDecodeCases(&out) }
            out.line("default: try reader.skipField(number: number, wireType: wireType)")
            out.line("}")
        }
    }
}
