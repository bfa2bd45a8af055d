import Foundation
import ProtoWire

/// Why a JSON value cannot be a given message, naming the field path (`ticket.sla.pausedMs`).
struct ProtoJSONError: Error, CustomStringConvertible {
    var path: String
    var reason: String
    var description: String { path.isEmpty ? reason : "\(path): \(reason)" }
}

/// proto3 JSON → protobuf binary, driven by the schema. Accepts what the proto3 JSON mapping
/// allows parsers to accept (JSON or proto field names, enum names or numbers, 64-bit integers as
/// strings or numbers, standard or URL-safe base64, `null` as "not set") and refuses unknown
/// fields, so a typo in an import file is an error rather than silently lost data. Fields are
/// written in number order with proto3 defaults omitted: the canonical encoding.
struct JSONToWire {
    let schema: ProtoSchema

    func bytes(from json: JSONValue, message name: String) throws -> [UInt8] {
        var writer = ProtoWriter()
        try write(json, message: try schema.message(name), path: "", to: &writer)
        return writer.bytes
    }

    private func write(_ json: JSONValue, message: MessageSchema, path: String, to writer: inout ProtoWriter) throws {
        guard case .object(let object) = json else {
            throw ProtoJSONError(path: path, reason: "expected an object for \(message.fullName), got \(json.kindName)")
        }
        var byNumber: [(FieldSchema, JSONValue, String)] = []
        for (key, value) in object.entries {
            let fieldPath = path.isEmpty ? key : "\(path).\(key)"
            guard let field = message.field(named: key) else {
                throw ProtoJSONError(path: fieldPath, reason: "no such field in \(message.fullName)")
            }
            if byNumber.contains(where: { $0.0.number == field.number }) {
                throw ProtoJSONError(path: fieldPath, reason: "set twice (JSON and proto names of one field)")
            }
            byNumber.append((field, value, fieldPath))
        }
        for (field, value, fieldPath) in byNumber.sorted(by: { $0.0.number < $1.0.number }) {
            try write(value, field: field, path: fieldPath, to: &writer)
        }
    }

    private func write(_ value: JSONValue, field: FieldSchema, path: String, to writer: inout ProtoWriter) throws {
        if case .null = value { return }
        switch field.kind {
        case .map(let keyType, let valueKind):
            guard case .object(let object) = value else {
                throw ProtoJSONError(path: path, reason: "expected an object (map), got \(value.kindName)")
            }
            var entries: [(sortKey: MapSortKey, bytes: [UInt8])] = []
            for (keyText, entryValue) in object.entries {
                let entryPath = "\(path)[\"\(keyText)\"]"
                var entry = ProtoWriter()
                let key = try mapKey(keyText, type: keyType, path: entryPath)
                try writeScalar(key.json, type: keyType, number: 1, always: true, path: entryPath, to: &entry)
                if case .null = entryValue { throw ProtoJSONError(path: entryPath, reason: "map values cannot be null") }
                try writeSingle(entryValue, kind: valueKind, number: 2, always: true, path: entryPath, to: &entry)
                entries.append((key.sortKey, entry.bytes))
            }
            for entry in entries.sorted(by: { $0.sortKey < $1.sortKey }) {
                writer.putTag(field.number, .lengthDelimited)
                writer.putVarint(UInt64(entry.bytes.count))
                writer.bytes.append(contentsOf: entry.bytes)
            }
        case _ where field.isRepeated:
            guard case .array(let items) = value else {
                throw ProtoJSONError(path: path, reason: "expected an array, got \(value.kindName)")
            }
            let packable: Bool
            switch field.kind {
            case .scalar(let scalar): packable = scalar.isPackable
            case .enumeration: packable = true
            default: packable = false
            }
            if packable {
                guard !items.isEmpty else { return }
                var run = ProtoWriter()
                for (index, item) in items.enumerated() {
                    try writeBare(item, kind: field.kind, path: "\(path)[\(index)]", to: &run)
                }
                writer.putTag(field.number, .lengthDelimited)
                writer.putVarint(UInt64(run.bytes.count))
                writer.bytes.append(contentsOf: run.bytes)
            } else {
                for (index, item) in items.enumerated() {
                    if case .null = item { throw ProtoJSONError(path: "\(path)[\(index)]", reason: "array elements cannot be null") }
                    try writeSingle(item, kind: field.kind, number: field.number, always: true, path: "\(path)[\(index)]", to: &writer)
                }
            }
        default:
            try writeSingle(value, kind: field.kind, number: field.number, always: field.hasPresence, path: path, to: &writer)
        }
    }

    /// One value with its tag; `always` writes defaults too (presence fields, map entries, list items).
    private func writeSingle(_ value: JSONValue, kind: FieldKind, number: Int, always: Bool, path: String,
                             to writer: inout ProtoWriter) throws {
        switch kind {
        case .message(let typeName):
            var sub = ProtoWriter()
            try write(value, message: try schema.message(typeName), path: path, to: &sub)
            writer.putTag(number, .lengthDelimited)
            writer.putVarint(UInt64(sub.bytes.count))
            writer.bytes.append(contentsOf: sub.bytes)
        case .enumeration(let typeName):
            let raw = try enumNumber(value, typeName: typeName, path: path)
            if raw != 0 || always { writer.writeInt32(number, raw) }
        case .scalar(let scalar):
            try writeScalar(value, type: scalar, number: number, always: always, path: path, to: &writer)
        default:
            throw ProtoJSONError(path: path, reason: "unsupported field type")
        }
    }

    /// A packed element: the value without a tag.
    private func writeBare(_ value: JSONValue, kind: FieldKind, path: String, to writer: inout ProtoWriter) throws {
        var tagged = ProtoWriter()
        try writeSingle(value, kind: kind, number: 1, always: true, path: path, to: &tagged)
        writer.bytes.append(contentsOf: tagged.bytes.dropFirst())  // field 1's tag is one byte
    }

    private func enumNumber(_ value: JSONValue, typeName: String, path: String) throws -> Int32 {
        let enumSchema = schema.enums[typeName]
        switch value {
        case .string(let name):
            guard let number = enumSchema?.number(of: name) else {
                throw ProtoJSONError(path: path, reason: "'\(name)' is not a value of \(typeName)")
            }
            return number
        case .number:
            return Int32(truncatingIfNeeded: try integer(value, min: Int64(Int32.min), max: Int64(Int32.max), path: path))
        default:
            throw ProtoJSONError(path: path, reason: "expected an enum name or number, got \(value.kindName)")
        }
    }

    private func writeScalar(_ value: JSONValue, type: ScalarType, number: Int, always: Bool, path: String,
                             to writer: inout ProtoWriter) throws {
        switch type {
        case .string:
            guard case .string(let text) = value else { throw ProtoJSONError(path: path, reason: "expected a string, got \(value.kindName)") }
            if !text.isEmpty || always { writer.writeString(number, text) }
        case .bytes:
            guard case .string(let text) = value, let data = Self.base64(text) else {
                throw ProtoJSONError(path: path, reason: "expected base64 text")
            }
            if !data.isEmpty || always { writer.writeBytes(number, Array(data)) }
        case .bool:
            guard case .bool(let flag) = value else { throw ProtoJSONError(path: path, reason: "expected true or false, got \(value.kindName)") }
            if flag || always { writer.writeBool(number, flag) }
        case .double, .float:
            let double = try floating(value, path: path)
            if type == .float {
                let single = Float(double)
                if single.bitPattern != 0 || always { writer.writeFloat(number, single) }
            } else if double.bitPattern != 0 || always {
                writer.writeDouble(number, double)
            }
        case .int32, .sint32, .sfixed32:
            let n = Int32(try integer(value, min: Int64(Int32.min), max: Int64(Int32.max), path: path))
            guard n != 0 || always else { return }
            switch type {
            case .int32: writer.writeInt32(number, n)
            case .sint32: writer.writeSInt32(number, n)
            default: writer.writeSFixed32(number, n)
            }
        case .int64, .sint64, .sfixed64:
            let n = try integer(value, min: Int64.min, max: Int64.max, path: path)
            guard n != 0 || always else { return }
            switch type {
            case .int64: writer.writeInt64(number, n)
            case .sint64: writer.writeSInt64(number, n)
            default: writer.writeSFixed64(number, n)
            }
        case .uint32, .fixed32:
            let n = UInt32(try unsigned(value, max: UInt64(UInt32.max), path: path))
            guard n != 0 || always else { return }
            if type == .uint32 { writer.writeUInt32(number, n) } else { writer.writeFixed32(number, n) }
        case .uint64, .fixed64:
            let n = try unsigned(value, max: UInt64.max, path: path)
            guard n != 0 || always else { return }
            if type == .uint64 { writer.writeUInt64(number, n) } else { writer.writeFixed64(number, n) }
        }
    }

    // MARK: Numbers

    private func numberText(_ value: JSONValue, path: String) throws -> String {
        switch value {
        case .number(let text): return text
        case .string(let text) where !text.isEmpty && text.trimmingCharacters(in: .whitespaces) == text: return text
        default: throw ProtoJSONError(path: path, reason: "expected a number, got \(value.kindName)")
        }
    }

    private func integer(_ value: JSONValue, min: Int64, max: Int64, path: String) throws -> Int64 {
        let text = try numberText(value, path: path)
        if let n = Int64(text) {
            guard n >= min, n <= max else { throw ProtoJSONError(path: path, reason: "\(text) is out of range") }
            return n
        }
        // The mapping allows exponent notation for integral values (1e3).
        guard let double = Double(text), double.isFinite, double == double.rounded(),
              double >= Double(min), double <= Double(max), let n = Int64(exactly: double) else {
            throw ProtoJSONError(path: path, reason: "'\(text)' is not an integer in range")
        }
        return n
    }

    private func unsigned(_ value: JSONValue, max: UInt64, path: String) throws -> UInt64 {
        let text = try numberText(value, path: path)
        if let n = UInt64(text) {
            guard n <= max else { throw ProtoJSONError(path: path, reason: "\(text) is out of range") }
            return n
        }
        guard let double = Double(text), double.isFinite, double == double.rounded(), double >= 0,
              double <= Double(max), let n = UInt64(exactly: double) else {
            throw ProtoJSONError(path: path, reason: "'\(text)' is not an unsigned integer in range")
        }
        return n
    }

    private func floating(_ value: JSONValue, path: String) throws -> Double {
        switch value {
        case .string("NaN"): return .nan
        case .string("Infinity"): return .infinity
        case .string("-Infinity"): return -.infinity
        default:
            let text = try numberText(value, path: path)
            guard let double = Double(text), double.isFinite else {
                throw ProtoJSONError(path: path, reason: "'\(text)' is not a number")
            }
            return double
        }
    }

    static func base64(_ text: String) -> Data? {
        var normalized = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while normalized.count % 4 != 0 { normalized += "=" }
        return Data(base64Encoded: normalized)
    }

    // MARK: Map keys

    /// Map keys sort as the generated code writes them: strings by UTF-8 bytes, numbers by value.
    enum MapSortKey: Comparable {
        case text([UInt8])
        case signed(Int64)
        case unsigned(UInt64)
        case flag(Bool)

        static func < (a: MapSortKey, b: MapSortKey) -> Bool {
            switch (a, b) {
            case (.text(let x), .text(let y)): x.lexicographicallyPrecedes(y)
            case (.signed(let x), .signed(let y)): x < y
            case (.unsigned(let x), .unsigned(let y)): x < y
            case (.flag(let x), .flag(let y)): !x && y
            default: false
            }
        }
    }

    private func mapKey(_ text: String, type: ScalarType, path: String) throws -> (json: JSONValue, sortKey: MapSortKey) {
        switch type {
        case .string: return (.string(text), .text(Array(text.utf8)))
        case .bool:
            guard text == "true" || text == "false" else { throw ProtoJSONError(path: path, reason: "map key must be true or false") }
            return (.bool(text == "true"), .flag(text == "true"))
        case .uint32, .uint64, .fixed32, .fixed64:
            guard let n = UInt64(text) else { throw ProtoJSONError(path: path, reason: "map key must be an unsigned integer") }
            return (.number(text), .unsigned(n))
        default:
            guard let n = Int64(text) else { throw ProtoJSONError(path: path, reason: "map key must be an integer") }
            return (.number(text), .signed(n))
        }
    }
}
