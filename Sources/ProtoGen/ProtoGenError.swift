/// A problem in the proto input, pointing at the file and line that caused it.
public struct ProtoGenError: Error, Equatable, CustomStringConvertible {
    /// Repository-relative path, e.g. `proto/crm/leads/v1/leads.proto`.
    public var file: String
    public var line: Int
    public var column: Int
    public var message: String

    public init(file: String, line: Int, column: Int = 0, _ message: String) {
        self.file = file
        self.line = line
        self.column = column
        self.message = message
    }

    /// `file:line:column: error: message`, the shape editors and CI logs link to.
    public var description: String {
        let position = column > 0 ? ":\(line):\(column)" : line > 0 ? ":\(line)" : ""
        return "\(file)\(position): error: \(message)"
    }
}

/// A place in a proto file; every declaration keeps one so later passes can report errors there.
struct SourceLocation: Equatable {
    var file: String
    var line: Int
    var column: Int

    func error(_ message: String) -> ProtoGenError {
        ProtoGenError(file: file, line: line, column: column, message)
    }
}
