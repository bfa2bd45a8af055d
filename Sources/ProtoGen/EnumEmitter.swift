/// Emits a proto3 (open) enum: one case per distinct number, plus `unrecognized` for the rest.
enum EnumEmitter {
    static func emit(_ decl: EnumDecl, declaredName: String, into out: inout CodeWriter) {
        let caseName = { (value: EnumValueDecl) in Naming.enumCaseName(value: value.name, enumName: decl.name) }
        // Aliases share a number with an earlier value; the first value with a number owns it.
        var seen: Set<Int32> = []
        var primary: [EnumValueDecl] = []
        var aliases: [(alias: EnumValueDecl, target: EnumValueDecl)] = []
        for value in decl.values {
            if seen.insert(value.number).inserted {
                primary.append(value)
            } else if let target = primary.first(where: { $0.number == value.number }) {
                aliases.append((value, target))
            }
        }

        out.doc(decl.comment)
        out.block("public enum \(declaredName): ProtoEnum") { out in
            for value in primary {
                out.doc(value.comment)
                out.line("case \(caseName(value))")
            }
            out.line("/// A number this version of the enum does not know, kept so it survives a round trip.")
            out.line("case unrecognized(Int32)")
            for (alias, target) in aliases {
                out.line()
                out.doc(alias.comment)
                out.line("/// Alias of `\(target.name)`, which has the same number.")
                out.line("public static let \(caseName(alias)): Self = .\(caseName(target))")
            }
            out.line()
            out.block("public init(rawValue: Int32)") { out in
                out.line("switch rawValue {")
                for value in primary { out.line("case \(value.number): self = .\(caseName(value))") }
                out.line("default: self = .unrecognized(rawValue)")
                out.line("}")
            }
            out.line()
            out.block("public var rawValue: Int32") { out in
                out.line("switch self {")
                for value in primary { out.line("case .\(caseName(value)): \(value.number)") }
                out.line("case .unrecognized(let number): number")
                out.line("}")
            }
            out.line()
            out.line("/// The value's name in the .proto file; the number for unrecognized values.")
            out.block("public var protoName: String") { out in
                out.line("switch self {")
                for value in primary { out.line("case .\(caseName(value)): \"\(value.name)\"") }
                out.line("case .unrecognized(let number): String(number)")
                out.line("}")
            }
            out.line()
            let cases = primary.map { "." + caseName($0) }.joined(separator: ", ")
            out.line("public static let allCases: [Self] = [\(cases)]")
        }
    }
}
