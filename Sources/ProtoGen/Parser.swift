/// A recursive-descent parser for the proto3 subset crm-protogen supports.
///
/// Anything outside the subset (proto2, editions, `oneof`, extensions, groups) is rejected with the
/// file and line, rather than silently generating something that would not match the wire.
/// Options are parsed only far enough to skip them, since nothing here depends on their values.
struct Parser {
    private let tokens: [Token]
    private var position = 0
    private let path: String
    private let displayPath: String

    /// Largest field number the wire format allows.
    static let maxFieldNumber = 536_870_911
    /// Field numbers protobuf reserves for its own implementation.
    static let implementationReserved = 19_000...19_999

    /// Parses `source`, the file at `path` relative to the proto root; errors cite `displayPath`.
    static func parse(_ source: String, path: String, displayPath: String) throws(ProtoGenError) -> ProtoFile {
        var parser = Parser(tokens: try Lexer.tokenize(source, file: displayPath), path: path, displayPath: displayPath)
        return try parser.parseFile()
    }

    private init(tokens: [Token], path: String, displayPath: String) {
        self.tokens = tokens
        self.path = path
        self.displayPath = displayPath
    }

    // MARK: Token access

    private var current: Token? { position < tokens.count ? tokens[position] : nil }

    private var currentLocation: SourceLocation {
        current?.location ?? tokens.last?.location ?? SourceLocation(file: displayPath, line: 1, column: 1)
    }

    private func peek(_ offset: Int) -> Token? {
        position + offset < tokens.count ? tokens[position + offset] : nil
    }

    private mutating func next() throws(ProtoGenError) -> Token {
        guard let token = current else { throw currentLocation.error("unexpected end of file") }
        position += 1
        return token
    }

    @discardableResult
    private mutating func expect(_ symbol: String) throws(ProtoGenError) -> Token {
        let token = try next()
        guard token.isSymbol(symbol) else {
            throw token.location.error("expected '\(symbol)' but found '\(token.text)'")
        }
        return token
    }

    private mutating func expectKeyword(_ keyword: String) throws(ProtoGenError) {
        let token = try next()
        guard token.isIdentifier(keyword) else {
            throw token.location.error("expected '\(keyword)' but found '\(token.text)'")
        }
    }

    private mutating func identifier(_ what: String) throws(ProtoGenError) -> String {
        let token = try next()
        guard token.kind == .identifier else {
            throw token.location.error("expected \(what) but found '\(token.text)'")
        }
        return token.text
    }

    private mutating func consume(_ symbol: String) -> Bool {
        guard current?.isSymbol(symbol) == true else { return false }
        position += 1
        return true
    }

    /// `a.b.c`, optionally with a leading dot (fully qualified type names).
    private mutating func dottedName(_ what: String) throws(ProtoGenError) -> String {
        var name = consume(".") ? "." : ""
        name += try identifier(what)
        while consume(".") { name += "." + (try identifier(what)) }
        return name
    }

    private mutating func integer(_ what: String) throws(ProtoGenError) -> (value: Int64, location: SourceLocation) {
        let negative = consume("-")
        let token = try next()
        guard token.kind == .number, let magnitude = parseInteger(token.text) else {
            throw token.location.error("expected \(what) (an integer) but found '\(token.text)'")
        }
        return (negative ? -magnitude : magnitude, token.location)
    }

    /// Doc comment of a declaration: the comment above it, else the one after its end on the same line.
    private func comment(first: Token, last: Token) -> [String] {
        first.leadingComment.isEmpty ? last.trailingComment : first.leadingComment
    }

    // MARK: File

    private mutating func parseFile() throws(ProtoGenError) -> ProtoFile {
        var file = ProtoFile(path: path, package: "", packageLocation: nil, imports: [], messages: [], enums: [], services: [])
        try parseSyntax()
        var sawPackage = false
        while let token = current {
            if token.isSymbol(";") {
                position += 1
                continue
            }
            guard token.kind == .identifier else { throw token.location.error("unexpected '\(token.text)' at top level") }
            switch token.text {
            case "syntax": throw token.location.error("duplicate syntax statement")
            case "edition": throw token.location.error("editions are not supported, only syntax = \"proto3\"")
            case "package":
                guard !sawPackage else { throw token.location.error("duplicate package statement") }
                sawPackage = true
                position += 1
                file.packageLocation = token.location
                file.package = try dottedName("package name")
                if file.package.hasPrefix(".") { throw token.location.error("package name cannot start with '.'") }
                try expect(";")
            case "import": file.imports.append(try parseImport())
            case "option": try skipOption()
            case "message": file.messages.append(try parseMessage())
            case "enum": file.enums.append(try parseEnum())
            case "service": file.services.append(try parseService())
            case "extend": throw token.location.error("extensions ('extend') are not supported")
            default: throw token.location.error("unexpected '\(token.text)' at top level")
            }
        }
        return file
    }

    private mutating func parseSyntax() throws(ProtoGenError) {
        guard let first = current, first.isIdentifier("syntax") else {
            throw currentLocation.error(
                "missing 'syntax = \"proto3\";' as the first statement (proto2, the default, is not supported)")
        }
        position += 1
        try expect("=")
        let value = try next()
        guard value.kind == .string else { throw value.location.error("expected a syntax string") }
        guard value.text == "proto3" else {
            throw value.location.error("syntax \"\(value.text)\" is not supported, only \"proto3\"")
        }
        try expect(";")
    }

    private mutating func parseImport() throws(ProtoGenError) -> ProtoFile.Import {
        let keyword = try next()
        var isPublic = false
        if current?.isIdentifier("public") == true {
            isPublic = true
            position += 1
        } else if current?.isIdentifier("weak") == true {
            position += 1
        }
        let target = try next()
        guard target.kind == .string else { throw target.location.error("expected an import path string") }
        try expect(";")
        return ProtoFile.Import(path: target.text, isPublic: isPublic, location: keyword.location)
    }

    // MARK: Skipped constructs

    /// `option name = value;` where the value may be a `{ ... }` aggregate containing `;`.
    private mutating func skipOption() throws(ProtoGenError) {
        let start = try next()
        var depth = 0
        while true {
            guard let token = current else { throw start.location.error("unterminated option statement") }
            position += 1
            if token.kind != .symbol { continue }
            switch token.text {
            case "{", "(", "[": depth += 1
            case "}", ")", "]": depth -= 1
            case ";" where depth == 0: return
            default: break
            }
            if depth < 0 { throw token.location.error("unbalanced '\(token.text)' in option") }
        }
    }

    /// `[deprecated = true, (custom) = {...}]` after a field or enum value.
    private mutating func skipBracketOptions() throws(ProtoGenError) {
        guard let open = current, open.isSymbol("[") else { return }
        var depth = 0
        while let token = current {
            position += 1
            if token.kind != .symbol { continue }
            switch token.text {
            case "[", "{", "(": depth += 1
            case "]", "}", ")":
                depth -= 1
                if depth == 0 { return }
            default: break
            }
        }
        throw open.location.error("unterminated '[' options")
    }

    /// `reserved 2, 9 to 11, 40 to max;` or `reserved "foo", "bar";`
    private mutating func parseReserved(into reserved: inout ReservedSet, max: Int) throws(ProtoGenError) {
        position += 1
        repeat {
            if let token = current, token.kind == .string {
                position += 1
                reserved.names.insert(token.text)
                continue
            }
            let low = try integer("a reserved number")
            var high = low.value
            if current?.isIdentifier("to") == true {
                position += 1
                if current?.isIdentifier("max") == true {
                    position += 1
                    high = Int64(max)
                } else {
                    high = try integer("the end of a reserved range").value
                }
            }
            guard low.value <= high else { throw low.location.error("reserved range \(low.value) to \(high) is empty") }
            reserved.ranges.append(Int(low.value)...Int(high))
        } while consume(",")
        try expect(";")
    }

    // MARK: Messages

    private mutating func parseMessage() throws(ProtoGenError) -> MessageDecl {
        let keyword = try next()
        let name = try identifier("message name")
        let open = try expect("{")
        var message = MessageDecl(
            name: name, comment: comment(first: keyword, last: open), location: keyword.location,
            fields: [], messages: [], enums: [], reserved: ReservedSet())
        while true {
            guard let token = current else { throw keyword.location.error("message '\(name)' is missing its '}'") }
            if token.isSymbol("}") {
                position += 1
                return message
            }
            if token.isSymbol(";") {
                position += 1
                continue
            }
            if token.isSymbol(".") {
                message.fields.append(try parseField())  // a fully qualified type name
                continue
            }
            guard token.kind == .identifier else { throw token.location.error("unexpected '\(token.text)' in message '\(name)'") }
            switch token.text {
            case "message" where peek(2)?.isSymbol("{") == true: message.messages.append(try parseMessage())
            case "enum" where peek(2)?.isSymbol("{") == true: message.enums.append(try parseEnum())
            case "option": try skipOption()
            case "reserved": try parseReserved(into: &message.reserved, max: Self.maxFieldNumber)
            case "oneof":
                throw token.location.error("'oneof' is not supported; use separate optional fields")
            case "extensions", "extend":
                throw token.location.error("extensions ('\(token.text)') are not supported in proto3")
            case "required":
                throw token.location.error("'required' is proto2; proto3 fields cannot be required")
            case "group":
                throw token.location.error("groups are proto2 and not supported")
            default: message.fields.append(try parseField())
            }
        }
    }

    private mutating func parseField() throws(ProtoGenError) -> FieldDecl {
        let first = current!
        var label = FieldDecl.Label.singular
        if (first.isIdentifier("repeated") || first.isIdentifier("optional")), peek(1)?.isSymbol("=") == false {
            label = first.text == "repeated" ? .repeated : .optional
            position += 1
        }
        let type: FieldType
        if current?.isIdentifier("map") == true, peek(1)?.isSymbol("<") == true {
            guard label == .singular else {
                throw first.location.error("map fields cannot be '\(first.text)'")
            }
            type = try parseMapType()
        } else {
            if current?.isIdentifier("group") == true {
                throw currentLocation.error("groups are proto2 and not supported")
            }
            type = try parseTypeName()
        }
        let name = try identifier("field name")
        try expect("=")
        let number = try integer("field number")
        guard number.value >= 1, number.value <= Int64(Self.maxFieldNumber) else {
            throw number.location.error("field number \(number.value) is out of range 1...\(Self.maxFieldNumber)")
        }
        guard !Self.implementationReserved.contains(Int(number.value)) else {
            throw number.location.error("field numbers 19000 to 19999 are reserved for the protobuf implementation")
        }
        try skipBracketOptions()
        let end = try expect(";")
        return FieldDecl(
            name: name, number: Int(number.value), label: label, type: type,
            comment: comment(first: first, last: end), location: first.location)
    }

    private mutating func parseTypeName() throws(ProtoGenError) -> FieldType {
        let name = try dottedName("a type name")
        return ScalarType(rawValue: name).map(FieldType.scalar) ?? .named(name)
    }

    /// `map<KeyType, ValueType>`
    private mutating func parseMapType() throws(ProtoGenError) -> FieldType {
        position += 1
        try expect("<")
        let keyToken = current
        guard case .scalar(let key) = try parseTypeName(), key.isValidMapKey else {
            throw (keyToken?.location ?? currentLocation).error(
                "map key must be an integral, bool or string type, not '\(keyToken?.text ?? "")'")
        }
        try expect(",")
        let value = try parseTypeName()
        try expect(">")
        return .map(key: key, value: value)
    }

    // MARK: Enums

    private mutating func parseEnum() throws(ProtoGenError) -> EnumDecl {
        let keyword = try next()
        let name = try identifier("enum name")
        let open = try expect("{")
        var decl = EnumDecl(
            name: name, comment: comment(first: keyword, last: open), location: keyword.location,
            values: [], reserved: ReservedSet())
        while true {
            guard let token = current else { throw keyword.location.error("enum '\(name)' is missing its '}'") }
            if token.isSymbol("}") {
                position += 1
                break
            }
            if token.isSymbol(";") {
                position += 1
                continue
            }
            guard token.kind == .identifier else { throw token.location.error("unexpected '\(token.text)' in enum '\(name)'") }
            switch token.text {
            case "option" where peek(1)?.isSymbol("=") == false: try skipOption()
            case "reserved" where peek(1)?.isSymbol("=") == false:
                try parseReserved(into: &decl.reserved, max: Int(Int32.max))
            default:
                position += 1
                try expect("=")
                let number = try integer("enum value number")
                guard let value = Int32(exactly: number.value) else {
                    throw number.location.error("enum value \(number.value) does not fit in int32")
                }
                try skipBracketOptions()
                let end = try expect(";")
                decl.values.append(EnumValueDecl(
                    name: token.text, number: value, comment: comment(first: token, last: end), location: token.location))
            }
        }
        guard let first = decl.values.first else { throw keyword.location.error("enum '\(name)' has no values") }
        guard first.number == 0 else {
            throw first.location.error("the first value of a proto3 enum must be 0 (it is the default), found \(first.number)")
        }
        return decl
    }

    // MARK: Services

    private mutating func parseService() throws(ProtoGenError) -> ServiceDecl {
        let keyword = try next()
        let name = try identifier("service name")
        let open = try expect("{")
        var service = ServiceDecl(name: name, comment: comment(first: keyword, last: open), location: keyword.location, rpcs: [])
        while true {
            guard let token = current else { throw keyword.location.error("service '\(name)' is missing its '}'") }
            if token.isSymbol("}") {
                position += 1
                return service
            }
            switch token.text {
            case ";" where token.kind == .symbol: position += 1
            case "option" where token.kind == .identifier: try skipOption()
            case "rpc" where token.kind == .identifier: service.rpcs.append(try parseRPC())
            default: throw token.location.error("unexpected '\(token.text)' in service '\(name)'")
            }
        }
    }

    private mutating func parseRPC() throws(ProtoGenError) -> RPCDecl {
        let keyword = try next()
        let name = try identifier("rpc name")
        let (requestType, requestStreaming) = try parseRPCType()
        try expectKeyword("returns")
        let (responseType, responseStreaming) = try parseRPCType()
        var end: Token
        if current?.isSymbol("{") == true {
            end = try next()
            while !consume("}") {
                guard let token = current else { throw keyword.location.error("rpc '\(name)' is missing its '}'") }
                if token.isSymbol(";") {
                    position += 1
                } else if token.isIdentifier("option") {
                    try skipOption()
                } else {
                    throw token.location.error("unexpected '\(token.text)' in rpc '\(name)' (only options are allowed)")
                }
            }
            _ = consume(";")
        } else {
            end = try expect(";")
        }
        return RPCDecl(
            name: name, requestType: requestType, requestStreaming: requestStreaming,
            responseType: responseType, responseStreaming: responseStreaming,
            comment: comment(first: keyword, last: end), location: keyword.location)
    }

    /// `( [stream] TypeName )`
    private mutating func parseRPCType() throws(ProtoGenError) -> (FieldType, Bool) {
        try expect("(")
        var streaming = false
        // `stream` followed by `)` is a message named "stream", not the keyword.
        if current?.isIdentifier("stream") == true, peek(1)?.isSymbol(")") == false {
            streaming = true
            position += 1
        }
        let typeToken = current
        let type = try parseTypeName()
        if case .scalar(let scalar) = type {
            throw (typeToken?.location ?? currentLocation).error("rpc argument must be a message type, not '\(scalar.rawValue)'")
        }
        try expect(")")
        return (type, streaming)
    }
}

/// Decimal, `0x` hexadecimal or leading-zero octal, as in the protobuf language spec.
func parseInteger(_ text: String) -> Int64? {
    if text.hasPrefix("0x") || text.hasPrefix("0X") {
        return Int64(text.dropFirst(2), radix: 16)
    }
    if text.count > 1, text.hasPrefix("0") {
        return Int64(text.dropFirst(), radix: 8)
    }
    return Int64(text, radix: 10)
}
