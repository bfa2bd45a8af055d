/// A JSON document as a value, keeping what proto3 JSON needs and Foundation's JSONSerialization
/// loses: object keys in their order and numbers as their literal text (an int64 never passes
/// through a Double, so 9007199254740993 survives an export/import round trip).
enum JSONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    /// The number's literal text as it appeared (or will appear) in the document.
    case number(String)
    case string(String)
    case array([JSONValue])
    case object(JSONObject)

    static func number(_ value: Int64) -> JSONValue { .number(String(value)) }

    var objectValue: JSONObject? {
        if case .object(let object) = self { return object }
        return nil
    }

    var stringValue: String? {
        if case .string(let text) = self { return text }
        return nil
    }

    var arrayValue: [JSONValue]? {
        if case .array(let items) = self { return items }
        return nil
    }

    /// A short name of the value's kind, for error messages.
    var kindName: String {
        switch self {
        case .null: "null"
        case .bool: "a boolean"
        case .number: "a number"
        case .string: "a string"
        case .array: "an array"
        case .object: "an object"
        }
    }
}

/// A JSON object with its keys in document order.
struct JSONObject: Sendable, Equatable {
    var entries: [(key: String, value: JSONValue)] = []

    init(_ entries: [(key: String, value: JSONValue)] = []) { self.entries = entries }

    subscript(key: String) -> JSONValue? {
        get { entries.first { $0.key == key }?.value }
        set {
            if let index = entries.firstIndex(where: { $0.key == key }) {
                if let newValue { entries[index].value = newValue } else { entries.remove(at: index) }
            } else if let newValue {
                entries.append((key, newValue))
            }
        }
    }

    static func == (a: JSONObject, b: JSONObject) -> Bool {
        a.entries.count == b.entries.count
            && zip(a.entries, b.entries).allSatisfy { $0.key == $1.key && $0.value == $1.value }
    }
}
