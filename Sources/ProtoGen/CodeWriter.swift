/// Accumulates indented Swift source.
struct CodeWriter {
    private(set) var text = ""
    private var depth = 0

    mutating func line(_ content: String = "") {
        if content.isEmpty {
            text += "\n"
        } else {
            text += String(repeating: "    ", count: depth) + content + "\n"
        }
    }

    /// `header {`, the indented body, `}`.
    mutating func block(_ header: String, _ body: (inout CodeWriter) -> Void) {
        line(header + " {")
        depth += 1
        body(&self)
        depth -= 1
        line("}")
    }

    /// A proto comment as a `///` doc comment; nothing when the proto had none.
    mutating func doc(_ comment: [String]) {
        var lines = comment.map { String($0.reversed().drop { $0.isWhitespace }.reversed()) }
        while lines.first?.isEmpty == true { lines.removeFirst() }
        while lines.last?.isEmpty == true { lines.removeLast() }
        for text in lines {
            line(text.isEmpty || text.hasPrefix(" ") ? "///" + text : "/// " + text)
        }
    }
}
