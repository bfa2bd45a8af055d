/// Splits a .proto file into tokens, keeping the comments next to them for doc comments.
///
/// Comment attachment follows protoc: a comment on the same line after a token is that token's
/// trailing comment; a run of comments ending on the line just before a token (no blank line in
/// between) is its leading comment. Anything else (license headers, detached notes) is dropped.
struct Token: Equatable {
    enum Kind: Equatable {
        case identifier
        /// Any numeric literal; only the parser knows whether it must be an integer.
        case number
        /// `text` is the decoded value, without quotes.
        case string
        /// One punctuation character.
        case symbol
    }

    var kind: Kind
    var text: String
    var location: SourceLocation
    var leadingComment: [String] = []
    var trailingComment: [String] = []

    func isSymbol(_ s: String) -> Bool { kind == .symbol && text == s }
    func isIdentifier(_ s: String) -> Bool { kind == .identifier && text == s }
}

struct Lexer {
    private let file: String
    private let bytes: [UInt8]
    private var index = 0
    private var line = 1
    private var lineStart = 0
    private var tokens: [Token] = []
    /// The comment group waiting for the next token, with the line it ends on.
    private var pendingComment: (lines: [String], endLine: Int, isLineComment: Bool)?

    static func tokenize(_ source: String, file: String) throws(ProtoGenError) -> [Token] {
        var lexer = Lexer(file: file, bytes: Array(source.utf8))
        try lexer.run()
        return lexer.tokens
    }

    private init(file: String, bytes: [UInt8]) {
        self.file = file
        self.bytes = bytes
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) {
            index = 3  // UTF-8 byte order mark
            lineStart = 3
        }
    }

    private var location: SourceLocation {
        SourceLocation(file: file, line: line, column: index - lineStart + 1)
    }

    private func peek(_ offset: Int = 0) -> UInt8? {
        index + offset < bytes.count ? bytes[index + offset] : nil
    }

    private mutating func advance() {
        if bytes[index] == UInt8(ascii: "\n") {
            line += 1
            lineStart = index + 1
        }
        index += 1
    }

    private mutating func run() throws(ProtoGenError) {
        while let c = peek() {
            if c == UInt8(ascii: "\n") || c == UInt8(ascii: " ") || c == UInt8(ascii: "\t")
                || c == UInt8(ascii: "\r") || c == 0x0B || c == 0x0C {
                advance()
            } else if c == UInt8(ascii: "/"), peek(1) == UInt8(ascii: "/") {
                lineComment()
            } else if c == UInt8(ascii: "/"), peek(1) == UInt8(ascii: "*") {
                try blockComment()
            } else if isIdentifierStart(c) {
                emit(.identifier, start: location) { $0.scan(while: isIdentifierPart) }
            } else if isDigit(c) || (c == UInt8(ascii: ".") && peek(1).map(isDigit) == true) {
                emit(.number, start: location) { $0.scanNumber() }
            } else if c == UInt8(ascii: "\"") || c == UInt8(ascii: "'") {
                let start = location
                let value = try stringLiteral()
                append(Token(kind: .string, text: value, location: start))
            } else if c < 0x80, isPunctuation(c) {
                let start = location
                advance()
                append(Token(kind: .symbol, text: String(UnicodeScalar(c)), location: start))
            } else {
                throw location.error("unexpected character '\(String(decoding: [c], as: UTF8.self))'")
            }
        }
    }

    // MARK: Tokens

    private mutating func emit(_ kind: Token.Kind, start: SourceLocation, _ scan: (inout Lexer) -> Void) {
        let from = index
        scan(&self)
        append(Token(kind: kind, text: String(decoding: bytes[from..<index], as: UTF8.self), location: start))
    }

    private mutating func append(_ token: Token) {
        var token = token
        if let pending = pendingComment, pending.endLine >= token.location.line - 1 {
            token.leadingComment = pending.lines
        }
        pendingComment = nil
        tokens.append(token)
    }

    private mutating func scan(while predicate: (UInt8) -> Bool) {
        while let c = peek(), predicate(c) { advance() }
    }

    /// Integers and floats alike (`0x1F`, `017`, `1.5e-3`, `inf` is an identifier).
    private mutating func scanNumber() {
        while let c = peek() {
            if isIdentifierPart(c) || c == UInt8(ascii: ".") {
                let isExponent = (c == UInt8(ascii: "e") || c == UInt8(ascii: "E"))
                advance()
                if isExponent, let sign = peek(), sign == UInt8(ascii: "+") || sign == UInt8(ascii: "-") {
                    advance()
                }
            } else {
                return
            }
        }
    }

    private mutating func stringLiteral() throws(ProtoGenError) -> String {
        let start = location
        let quote = bytes[index]
        advance()
        var value: [UInt8] = []
        while true {
            guard let c = peek(), c != UInt8(ascii: "\n") else {
                throw start.error("unterminated string literal")
            }
            advance()
            if c == quote { return String(decoding: value, as: UTF8.self) }
            guard c == UInt8(ascii: "\\") else {
                value.append(c)
                continue
            }
            guard let escaped = peek() else { throw start.error("unterminated string literal") }
            advance()
            switch escaped {
            case UInt8(ascii: "n"): value.append(0x0A)
            case UInt8(ascii: "t"): value.append(0x09)
            case UInt8(ascii: "r"): value.append(0x0D)
            case UInt8(ascii: "0")...UInt8(ascii: "7"):
                // Octal escapes only appear in option values, which are skipped; keep the digit.
                value.append(escaped)
            default: value.append(escaped)
            }
        }
    }

    // MARK: Comments

    private mutating func lineComment() {
        let startLine = line
        let from = index
        scan { $0 != UInt8(ascii: "\n") }
        var text = Substring(String(decoding: bytes[from..<index], as: UTF8.self))
        while text.first == "/" { text = text.dropFirst() }
        record([String(text)], startLine: startLine, endLine: startLine, isLineComment: true)
    }

    private mutating func blockComment() throws(ProtoGenError) {
        let start = location
        advance()
        advance()
        let from = index
        while !(peek() == UInt8(ascii: "*") && peek(1) == UInt8(ascii: "/")) {
            guard peek() != nil else { throw start.error("unterminated /* comment") }
            advance()
        }
        let body = String(decoding: bytes[from..<index], as: UTF8.self)
        advance()
        advance()
        var lines = body.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).map { raw -> String in
            // Drop the ` * ` gutter of Javadoc-style blocks; other lines stay as written.
            let text = raw.drop { $0 == " " || $0 == "\t" }
            return text.first == "*" ? String(text.dropFirst()) : String(raw)
        }
        while lines.first?.allSatisfy(\.isWhitespace) == true { lines.removeFirst() }
        while lines.last?.allSatisfy(\.isWhitespace) == true { lines.removeLast() }
        record(lines, startLine: start.line, endLine: line, isLineComment: false)
    }

    private mutating func record(_ lines: [String], startLine: Int, endLine: Int, isLineComment: Bool) {
        if let last = tokens.last, last.location.line == startLine, pendingComment == nil {
            tokens[tokens.count - 1].trailingComment += lines
            return
        }
        if var pending = pendingComment, pending.isLineComment, isLineComment,
           pending.endLine == startLine - 1 {
            pending.lines += lines
            pending.endLine = endLine
            pendingComment = pending
        } else {
            pendingComment = (lines, endLine, isLineComment)
        }
    }
}

private func isDigit(_ c: UInt8) -> Bool { c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9") }

private func isIdentifierStart(_ c: UInt8) -> Bool {
    (c >= UInt8(ascii: "a") && c <= UInt8(ascii: "z")) || (c >= UInt8(ascii: "A") && c <= UInt8(ascii: "Z"))
        || c == UInt8(ascii: "_")
}

private func isIdentifierPart(_ c: UInt8) -> Bool { isIdentifierStart(c) || isDigit(c) }

private func isPunctuation(_ c: UInt8) -> Bool {
    c > 0x20 && c < 0x7F && !isIdentifierPart(c) && c != UInt8(ascii: "\"") && c != UInt8(ascii: "'")
}
