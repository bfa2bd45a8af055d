import Foundation

/// Reads the proto3 subset the suite's contracts use: packages, imports, options, messages and enums
/// (nested), `optional` / `repeated` / `map<,>` / `oneof` fields, `reserved`; services are skipped.
/// Type names are resolved with protobuf's scoping rules once every file is read.
struct ProtoSchemaParser {
    private var tokens: [Token] = []
    private var index = 0
    private let file: String
    private var package = ""

    private struct Token {
        enum Kind { case identifier, number, string, symbol }
        var kind: Kind
        var text: String
        var line: Int
    }

    /// Parses every `.proto` file below `root` and resolves the type names between them.
    static func load(root: String) throws -> ProtoSchema {
        let rootURL = URL(fileURLWithPath: root)
        guard let enumerator = FileManager.default.enumerator(at: rootURL, includingPropertiesForKeys: nil) else {
            throw ProtoSchemaError("cannot read the proto directory \(root)")
        }
        var schema = ProtoSchema()
        var found = false
        for case let url as URL in enumerator where url.pathExtension == "proto" {
            found = true
            let text = try String(contentsOf: url, encoding: .utf8)
            var parser = ProtoSchemaParser(file: url.path, text: text)
            try parser.parseFile(into: &schema)
        }
        guard found else { throw ProtoSchemaError("no .proto files under \(root)") }
        try resolve(&schema)
        return schema
    }

    init(file: String, text: String) {
        self.file = file
        tokens = Self.tokenize(text)
    }

    // MARK: Tokens

    private static func tokenize(_ text: String) -> [Token] {
        var tokens: [Token] = []
        let chars = Array(text.unicodeScalars)
        var i = 0
        var line = 1
        func isIdentStart(_ c: Unicode.Scalar) -> Bool { c == "_" || (c.properties.isAlphabetic && c.isASCII) }
        func isIdentPart(_ c: Unicode.Scalar) -> Bool { isIdentStart(c) || ("0"..."9").contains(c) || c == "." }
        while i < chars.count {
            let c = chars[i]
            if c == "\n" { line += 1; i += 1; continue }
            if c == " " || c == "\t" || c == "\r" { i += 1; continue }
            if c == "/", i + 1 < chars.count, chars[i + 1] == "/" {
                while i < chars.count, chars[i] != "\n" { i += 1 }
                continue
            }
            if c == "/", i + 1 < chars.count, chars[i + 1] == "*" {
                i += 2
                while i + 1 < chars.count, !(chars[i] == "*" && chars[i + 1] == "/") {
                    if chars[i] == "\n" { line += 1 }
                    i += 1
                }
                i += 2
                continue
            }
            if isIdentStart(c) || (c == "." && i + 1 < chars.count && isIdentStart(chars[i + 1])) {
                var text = String(c)
                i += 1
                while i < chars.count, isIdentPart(chars[i]) { text.unicodeScalars.append(chars[i]); i += 1 }
                tokens.append(Token(kind: .identifier, text: text, line: line))
                continue
            }
            if ("0"..."9").contains(c) {
                var text = ""
                while i < chars.count, isIdentPart(chars[i]) || ((chars[i] == "+" || chars[i] == "-") && (text.hasSuffix("e") || text.hasSuffix("E"))) {
                    text.unicodeScalars.append(chars[i])
                    i += 1
                }
                tokens.append(Token(kind: .number, text: text, line: line))
                continue
            }
            if c == "\"" || c == "'" {
                var text = ""
                i += 1
                while i < chars.count, chars[i] != c {
                    if chars[i] == "\\", i + 1 < chars.count { i += 1 }
                    text.unicodeScalars.append(chars[i])
                    i += 1
                }
                i += 1
                tokens.append(Token(kind: .string, text: text, line: line))
                continue
            }
            tokens.append(Token(kind: .symbol, text: String(c), line: line))
            i += 1
        }
        return tokens
    }

    private var current: Token? { index < tokens.count ? tokens[index] : nil }

    private func error(_ message: String) -> ProtoSchemaError {
        ProtoSchemaError("\(file):\(current?.line ?? tokens.last?.line ?? 0): \(message)")
    }

    private mutating func next() throws -> Token {
        guard let token = current else { throw error("unexpected end of file") }
        index += 1
        return token
    }

    private mutating func take(_ text: String) throws {
        let token = try next()
        guard token.text == text else { throw error("expected '\(text)', found '\(token.text)'") }
    }

    private mutating func identifier() throws -> String {
        let token = try next()
        guard token.kind == .identifier else { throw error("expected a name, found '\(token.text)'") }
        return token.text
    }

    private mutating func integer() throws -> Int {
        var negative = false
        if current?.text == "-" { negative = true; index += 1 }
        let token = try next()
        let text = token.text.lowercased()
        let value: Int?
        if text.hasPrefix("0x") { value = Int(text.dropFirst(2), radix: 16) }
        else if text.count > 1, text.hasPrefix("0") { value = Int(text.dropFirst(), radix: 8) }
        else { value = Int(text) }
        guard let value else { throw error("expected an integer, found '\(token.text)'") }
        return negative ? -value : value
    }

    /// Skips to the `;` ending a statement, stepping over any `{ … }` aggregate values.
    private mutating func skipStatement() throws {
        var depth = 0
        while let token = current {
            index += 1
            if token.text == "{" { depth += 1 }
            if token.text == "}" { depth -= 1 }
            if token.text == ";", depth == 0 { return }
        }
        throw error("unterminated statement")
    }

    /// Skips a `{ … }` block (services, extend).
    private mutating func skipBlock() throws {
        while let token = current, token.text != "{" { index += 1 }
        var depth = 0
        while let token = current {
            index += 1
            if token.text == "{" { depth += 1 }
            if token.text == "}" { depth -= 1; if depth == 0 { return } }
        }
        throw error("unterminated block")
    }

    // MARK: Declarations

    private mutating func parseFile(into schema: inout ProtoSchema) throws {
        while let token = current {
            switch token.text {
            case "syntax", "import", "option", "edition": try skipStatement()
            case "package":
                index += 1
                package = try identifier()
                try take(";")
            case "message": try parseMessage(scope: package, into: &schema)
            case "enum": try parseEnum(scope: package, into: &schema)
            case "service", "extend": try skipBlock()
            case ";": index += 1
            default: throw error("unexpected '\(token.text)'")
            }
        }
    }

    private static func join(_ scope: String, _ name: String) -> String { scope.isEmpty ? name : "\(scope).\(name)" }

    private mutating func parseMessage(scope: String, into schema: inout ProtoSchema) throws {
        try take("message")
        let fullName = Self.join(scope, try identifier())
        try take("{")
        var message = MessageSchema(fullName: fullName, fields: [])
        while let token = current, token.text != "}" {
            switch token.text {
            case "message": try parseMessage(scope: fullName, into: &schema)
            case "enum": try parseEnum(scope: fullName, into: &schema)
            case "option", "reserved", "extensions": try skipStatement()
            case "extend": try skipBlock()
            case ";": index += 1
            case "oneof":
                index += 1
                _ = try identifier()
                try take("{")
                while let inner = current, inner.text != "}" {
                    if inner.text == "option" { try skipStatement(); continue }
                    var field = try parseField(scope: fullName)
                    field.inOneof = true
                    message.fields.append(field)
                }
                try take("}")
            default: message.fields.append(try parseField(scope: fullName))
            }
        }
        try take("}")
        schema.messages[fullName] = message
    }

    private mutating func parseField(scope: String) throws -> FieldSchema {
        var label = FieldSchema.Label.singular
        switch current?.text {
        case "optional": label = .optional; index += 1
        case "repeated": label = .repeated; index += 1
        case "required": throw error("proto2 'required' is not supported")
        default: break
        }
        let kind: FieldKind
        if current?.text == "map" {
            index += 1
            try take("<")
            let keyName = try identifier()
            guard let key = ScalarType(rawValue: keyName) else { throw error("map key type '\(keyName)' is not a scalar") }
            try take(",")
            let value = try identifier()
            try take(">")
            kind = .map(key: key, value: ScalarType(rawValue: value).map(FieldKind.scalar) ?? .unresolved("\(scope)|\(value)"))
            label = .repeated
        } else {
            let typeName = try identifier()
            kind = ScalarType(rawValue: typeName).map(FieldKind.scalar) ?? .unresolved("\(scope)|\(typeName)")
        }
        let name = try identifier()
        try take("=")
        let number = try integer()
        var jsonName = FieldSchema.jsonName(for: name)
        if current?.text == "[" {
            index += 1
            while let token = current, token.text != "]" {
                if token.text == "json_name" {
                    index += 1
                    try take("=")
                    jsonName = try next().text
                } else {
                    index += 1
                }
            }
            try take("]")
        }
        try take(";")
        return FieldSchema(name: name, jsonName: jsonName, number: number, label: label, kind: kind)
    }

    private mutating func parseEnum(scope: String, into schema: inout ProtoSchema) throws {
        try take("enum")
        let fullName = Self.join(scope, try identifier())
        try take("{")
        var values: [(name: String, number: Int32)] = []
        while let token = current, token.text != "}" {
            switch token.text {
            case "option", "reserved": try skipStatement()
            case ";": index += 1
            default:
                let name = try identifier()
                try take("=")
                let number = try integer()
                if current?.text == "[" { while let t = current, t.text != "]" { index += 1 }; index += 1 }
                try take(";")
                guard let value = Int32(exactly: number) else { throw error("enum value \(name) out of range") }
                values.append((name, value))
            }
        }
        try take("}")
        schema.enums[fullName] = EnumSchema(fullName: fullName, values: values)
    }

    // MARK: Resolution

    /// Replaces each `.unresolved("scope|Name")` with the message or enum protobuf scoping finds:
    /// the innermost enclosing scope that declares it wins; a leading dot means fully qualified.
    private static func resolve(_ schema: inout ProtoSchema) throws {
        func lookup(_ reference: String) throws -> FieldKind {
            let parts = reference.split(separator: "|", maxSplits: 1).map(String.init)
            let scope = parts[0], name = parts[1]
            var candidates: [String] = []
            if name.hasPrefix(".") {
                candidates = [String(name.dropFirst())]
            } else {
                var components = scope.split(separator: ".").map(String.init)
                while true {
                    candidates.append(join(components.joined(separator: "."), name))
                    if components.isEmpty { break }
                    components.removeLast()
                }
            }
            for candidate in candidates {
                if schema.messages[candidate] != nil { return .message(candidate) }
                if schema.enums[candidate] != nil { return .enumeration(candidate) }
            }
            throw ProtoSchemaError("type \(name) used in \(scope) is not declared in any proto file")
        }
        func resolved(_ kind: FieldKind) throws -> FieldKind {
            switch kind {
            case .unresolved(let reference): try lookup(reference)
            case .map(let key, let value): .map(key: key, value: try resolved(value))
            default: kind
            }
        }
        for (name, message) in schema.messages {
            var message = message
            for index in message.fields.indices { message.fields[index].kind = try resolved(message.fields[index].kind) }
            message.fields.sort { $0.number < $1.number }
            schema.messages[name] = message
        }
    }
}
