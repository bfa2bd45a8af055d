/// Transcodes between protobuf wire bytes and the proto3 JSON mapping, for any message described
/// by a `ProtoDescriptorSet` (crm-protogen writes one per generated module).
///
/// JSON → wire: accepts json names and proto names, int64-family values as numbers or strings,
/// enums as names or numbers, bytes as base64 (standard or URL-safe), floats also as "NaN",
/// "Infinity", "-Infinity"; `null` means the default. Unknown fields are errors. Every error names
/// the JSON path of the offending value (`lead.contact.phone: expected a string`).
///
/// Wire → JSON: lowerCamel json names in declaration order, defaults omitted (fields with explicit
/// presence written when set), int64-family values as strings, unknown enum numbers as numbers,
/// unknown fields dropped. Output is deterministic (map entries sorted by key).
import Foundation
import ProtoWire

public struct ProtoJSONError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The JSON path of the value at fault (`lead.contacts[1].phone`), empty for the whole document.
    public var path: String
    public var reason: String

    public init(path: String, _ reason: String) {
        self.path = path
        self.reason = reason
    }

    public var description: String { path.isEmpty ? reason : "\(path): \(reason)" }
}

public struct ProtoJSONTranscoder: Sendable {
    public let descriptors: ProtoDescriptorSet
    /// Nested messages deeper than this are refused (both directions).
    public var maxDepth = 100

    public init(_ descriptors: ProtoDescriptorSet) {
        self.descriptors = descriptors
    }

    // MARK: JSON → wire

    /// The wire bytes of message `messageType` (full proto name) described by the JSON document.
    /// An empty document means the empty message.
    public func wireBytes(fromJSON json: [UInt8], messageType: String) throws(ProtoJSONError) -> [UInt8] {
        if json.allSatisfy({ $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }) { return [] }
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: Data(json), options: [.fragmentsAllowed])
        } catch {
            throw ProtoJSONError(path: "", "the body is not valid JSON")
        }
        return try wireBytes(fromJSONObject: object, messageType: messageType)
    }

    /// The wire bytes of message `messageType` described by a JSON tree already in memory, in the
    /// shapes JSONSerialization produces (`[String: Any]`, `[Any]`, `String`, numbers, `Bool`,
    /// `NSNull`), for callers that parse or build the JSON themselves (crm-admin's import lines
    /// and CSV rows). Same mapping and errors as `wireBytes(fromJSON:messageType:)`.
    public func wireBytes(fromJSONObject object: Any, messageType: String) throws(ProtoJSONError) -> [UInt8] {
        var writer = ProtoWriter()
        try encodeMessage(object, type: messageType, path: "", depth: 0, into: &writer)
        return writer.bytes
    }

    private func child(_ path: String, _ name: String) -> String { path.isEmpty ? name : path + "." + name }

    private func encodeMessage(_ json: Any, type: String, path: String, depth: Int, into writer: inout ProtoWriter) throws(ProtoJSONError) {
        guard depth < maxDepth else { throw ProtoJSONError(path: path, "nested too deep") }
        guard let descriptor = descriptors.messages[type] else {
            throw ProtoJSONError(path: path, "no descriptor for message \(type)")
        }
        if json is NSNull { return }
        guard let object = json as? [String: Any] else {
            throw ProtoJSONError(path: path, "expected an object (\(type))")
        }
        var used: Set<String> = []
        for field in descriptor.fields {
            let byJSON = object[field.jsonName]
            let byName = field.name == field.jsonName ? nil : object[field.name]
            if byJSON != nil, byName != nil {
                throw ProtoJSONError(path: child(path, field.jsonName), "given twice (as \(field.jsonName) and \(field.name))")
            }
            let key = byJSON != nil ? field.jsonName : field.name
            guard let value = byJSON ?? byName else { continue }
            used.insert(key)
            try encodeField(field, value, path: child(path, key), depth: depth, into: &writer)
        }
        for key in object.keys.sorted() where !used.contains(key) {
            throw ProtoJSONError(path: child(path, key), "unknown field of \(type)")
        }
    }

    private func encodeField(_ field: ProtoFieldDescriptor, _ json: Any, path: String, depth: Int, into writer: inout ProtoWriter) throws(ProtoJSONError) {
        if json is NSNull { return }
        if let keyKind = field.mapKey {
            guard let object = json as? [String: Any] else { throw ProtoJSONError(path: path, "expected an object (a map)") }
            for key in object.keys.sorted() {
                let entryPath = path + "[\(quoted(key))]"
                let value = object[key]!
                writer.putTag(field.number, .lengthDelimited)
                var entry = ProtoWriter()
                try putKey(key, kind: keyKind, path: entryPath, into: &entry)
                if !(value is NSNull) {
                    try encodeValue(value, kind: field.kind, number: 2, path: entryPath, depth: depth, into: &entry)
                }
                writer.putVarint(UInt64(entry.bytes.count))
                writer.bytes.append(contentsOf: entry.bytes)
            }
            return
        }
        if field.isRepeated {
            guard let array = json as? [Any] else { throw ProtoJSONError(path: path, "expected an array") }
            if case .message = field.kind {} else if !isLengthDelimited(field.kind), !array.isEmpty {
                // Packed.
                var packed = ProtoWriter()
                for (i, element) in array.enumerated() {
                    try putBare(element, kind: field.kind, path: path + "[\(i)]", into: &packed)
                }
                writer.putTag(field.number, .lengthDelimited)
                writer.putVarint(UInt64(packed.bytes.count))
                writer.bytes.append(contentsOf: packed.bytes)
                return
            }
            for (i, element) in array.enumerated() {
                if element is NSNull { throw ProtoJSONError(path: path + "[\(i)]", "null is not allowed in an array") }
                try encodeValue(element, kind: field.kind, number: field.number, path: path + "[\(i)]", depth: depth, into: &writer)
            }
            return
        }
        if case .message = field.kind {
            try encodeValue(json, kind: field.kind, number: field.number, path: path, depth: depth, into: &writer)
            return
        }
        var value = ProtoWriter()
        try putBare(json, kind: field.kind, path: path, into: &value)
        if !field.hasPresence, isDefault(value.bytes, kind: field.kind) { return }
        writer.putTag(field.number, wireType(field.kind))
        writer.bytes.append(contentsOf: value.bytes)
    }

    /// One tagged value.
    private func encodeValue(_ json: Any, kind: ProtoValueKind, number: Int, path: String, depth: Int, into writer: inout ProtoWriter) throws(ProtoJSONError) {
        if case .message(let type) = kind {
            var nested = ProtoWriter()
            try encodeMessage(json, type: type, path: path, depth: depth + 1, into: &nested)
            writer.putTag(number, .lengthDelimited)
            writer.putVarint(UInt64(nested.bytes.count))
            writer.bytes.append(contentsOf: nested.bytes)
            return
        }
        writer.putTag(number, wireType(kind))
        try putBare(json, kind: kind, path: path, into: &writer)
    }

    private func putKey(_ key: String, kind: ProtoScalarKind, path: String, into writer: inout ProtoWriter) throws(ProtoJSONError) {
        writer.putTag(1, kind.wireType)
        switch kind {
        case .bool:
            guard key == "true" || key == "false" else { throw ProtoJSONError(path: path, "expected a bool map key") }
            writer.putBool(key == "true")
        default:
            try putScalar(key, kind: kind, path: path, into: &writer)
        }
    }

    private func isLengthDelimited(_ kind: ProtoValueKind) -> Bool { wireType(kind) == .lengthDelimited }

    private func wireType(_ kind: ProtoValueKind) -> WireType {
        switch kind {
        case .scalar(let scalar): scalar.wireType
        case .enumeration: .varint
        case .message: .lengthDelimited
        }
    }

    /// The encoding of a default value: a zero varint / fixed, or an empty length-delimited value.
    private func isDefault(_ bytes: [UInt8], kind: ProtoValueKind) -> Bool {
        if isLengthDelimited(kind) { return bytes == [0] }
        return bytes.allSatisfy { $0 == 0 }  // -0.0 has a sign bit, so it is written
    }

    /// A value without its tag (strings and bytes with their length).
    private func putBare(_ json: Any, kind: ProtoValueKind, path: String, into writer: inout ProtoWriter) throws(ProtoJSONError) {
        switch kind {
        case .scalar(let scalar):
            try putScalar(json, kind: scalar, path: path, into: &writer)
        case .enumeration(let type):
            guard let descriptor = descriptors.enums[type] else { throw ProtoJSONError(path: path, "no descriptor for enum \(type)") }
            if let name = json as? String {
                guard let number = descriptor.number(of: name) else {
                    let some = descriptor.values.prefix(8).map(\.name).joined(separator: ", ")
                    throw ProtoJSONError(path: path, "unknown value \(quoted(name)) of enum \(type) (one of \(some))")
                }
                writer.putInt32(number)
            } else if let number = try? integer(json, path: path), let value = Int32(exactly: number) {
                writer.putInt32(value)
            } else {
                throw ProtoJSONError(path: path, "expected an enum value name of \(type)")
            }
        case .message:
            throw ProtoJSONError(path: path, "internal: message value in a scalar position")
        }
    }

    private func putScalar(_ json: Any, kind: ProtoScalarKind, path: String, into writer: inout ProtoWriter) throws(ProtoJSONError) {
        switch kind {
        case .string:
            guard let text = json as? String else { throw ProtoJSONError(path: path, "expected a string") }
            writer.putVarint(UInt64(text.utf8.count))
            writer.bytes.append(contentsOf: text.utf8)
        case .bytes:
            guard let text = json as? String else { throw ProtoJSONError(path: path, "expected a base64 string") }
            guard let data = decodeBase64(text) else { throw ProtoJSONError(path: path, "invalid base64") }
            writer.putVarint(UInt64(data.count))
            writer.bytes.append(contentsOf: data)
        case .bool:
            guard let number = json as? NSNumber, isBool(number) else { throw ProtoJSONError(path: path, "expected true or false") }
            writer.putBool(number.boolValue)
        case .double:
            writer.putDouble(try floating(json, path: path))
        case .float:
            let value = try floating(json, path: path)
            guard value.isNaN || value.isInfinite || abs(value) <= Double(Float.greatestFiniteMagnitude) else {
                throw ProtoJSONError(path: path, "out of range for float")
            }
            writer.putFloat(Float(value))
        case .int32, .sint32, .sfixed32:
            guard let value = Int32(exactly: try integer(json, path: path)) else { throw ProtoJSONError(path: path, "out of range for \(kind.rawValue)") }
            switch kind {
            case .int32: writer.putInt32(value)
            case .sint32: writer.putSInt32(value)
            default: writer.putSFixed32(value)
            }
        case .uint32, .fixed32:
            guard let value = UInt32(exactly: try integer(json, path: path)) else { throw ProtoJSONError(path: path, "out of range for \(kind.rawValue)") }
            if kind == .uint32 { writer.putUInt32(value) } else { writer.putFixed32(value) }
        case .int64, .sint64, .sfixed64:
            guard let value = Int64(exactly: try integer(json, path: path)) else { throw ProtoJSONError(path: path, "out of range for \(kind.rawValue)") }
            switch kind {
            case .int64: writer.putInt64(value)
            case .sint64: writer.putSInt64(value)
            default: writer.putSFixed64(value)
            }
        case .uint64, .fixed64:
            let number = try integer(json, path: path)
            guard number >= 0, let value = UInt64(exactly: number) else { throw ProtoJSONError(path: path, "out of range for \(kind.rawValue)") }
            if kind == .uint64 { writer.putUInt64(value) } else { writer.putFixed64(value) }
        }
    }

    private func isBool(_ number: NSNumber) -> Bool {
        String(cString: number.objCType) == "c" || String(describing: type(of: number)).contains("Boolean")
    }

    /// An integer given as a JSON number or a string holding one (`"12"`, `"1e3"` too).
    private func integer(_ json: Any, path: String) throws(ProtoJSONError) -> Int128 {
        if let text = json as? String {
            if let value = Int128(text) { return value }
            if let value = Double(text), value.isFinite, value.rounded() == value, abs(value) < 2e19 { return Int128(value) }
            throw ProtoJSONError(path: path, "expected an integer, got \(quoted(text))")
        }
        guard let number = json as? NSNumber, !isBool(number) else { throw ProtoJSONError(path: path, "expected an integer") }
        switch String(cString: number.objCType) {
        case "d", "f":
            let value = number.doubleValue
            guard value.isFinite, value.rounded() == value, abs(value) < 2e19 else {
                throw ProtoJSONError(path: path, "expected an integer, got \(number)")
            }
            return Int128(value)
        case "Q":
            return Int128(number.uint64Value)
        default:
            return Int128(number.int64Value)
        }
    }

    private func floating(_ json: Any, path: String) throws(ProtoJSONError) -> Double {
        if let text = json as? String {
            switch text {
            case "NaN": return .nan
            case "Infinity": return .infinity
            case "-Infinity": return -.infinity
            default:
                guard let value = Double(text), value.isFinite else { throw ProtoJSONError(path: path, "expected a number, got \(quoted(text))") }
                return value
            }
        }
        guard let number = json as? NSNumber, !isBool(number) else { throw ProtoJSONError(path: path, "expected a number") }
        return number.doubleValue
    }

    private func decodeBase64(_ text: String) -> [UInt8]? {
        var standard = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while standard.count % 4 != 0 { standard += "=" }
        return Data(base64Encoded: standard).map { [UInt8]($0) }
    }

    // MARK: Wire → JSON

    /// The JSON document of message `messageType` decoded from wire bytes.
    public func json(fromWire bytes: [UInt8], messageType: String) throws(ProtoJSONError) -> [UInt8] {
        let value = try decodeMessage(bytes, type: messageType, path: "", depth: 0)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count * 2 + 2)
        value.write(to: &out)
        return out
    }

    private func decodeMessage(_ bytes: [UInt8], type: String, path: String, depth: Int) throws(ProtoJSONError) -> JSONValue {
        guard depth < maxDepth else { throw ProtoJSONError(path: path, "nested too deep") }
        guard let descriptor = descriptors.messages[type] else { throw ProtoJSONError(path: path, "no descriptor for message \(type)") }
        var singular: [Int: JSONValue] = [:]
        var singularMessages: [Int: [UInt8]] = [:]
        var repeated: [Int: [JSONValue]] = [:]
        var maps: [Int: [(key: String, value: JSONValue)]] = [:]
        var reader = ProtoReader(bytes)
        do {
            while let (number, wireType) = try reader.nextTag() {
                guard let field = descriptor.field(number: number) else {
                    try reader.skip(wireType, number: number)
                    continue
                }
                let fieldPath = child(path, field.jsonName)
                if let keyKind = field.mapKey {
                    guard wireType == .lengthDelimited else { try reader.skip(wireType, number: number); continue }
                    var entry = try reader.subReader()
                    var key: JSONValue?
                    var value: JSONValue?
                    var valueMessage: [UInt8]?
                    while let (entryNumber, entryWire) = try entry.nextTag() {
                        if entryNumber == 1, entryWire == keyKind.wireType {
                            key = try readScalar(&entry, kind: keyKind)
                        } else if entryNumber == 2, case .message = field.kind, entryWire == .lengthDelimited {
                            valueMessage = (valueMessage ?? []) + (try entry.readBytes())
                        } else if entryNumber == 2, entryWire == self.wireType(field.kind) {
                            value = try readValue(&entry, kind: field.kind)
                        } else {
                            try entry.skip(entryWire, number: entryNumber)
                        }
                    }
                    let keyText = key.map(\.mapKeyText) ?? defaultKey(keyKind)
                    if case .message(let valueType) = field.kind {
                        value = try decodeMessage(valueMessage ?? [], type: valueType, path: fieldPath + "[\(quoted(keyText))]", depth: depth + 1)
                    }
                    maps[number, default: []].append((keyText, value ?? defaultValue(field.kind)))
                    continue
                }
                if case .message(let valueType) = field.kind {
                    guard wireType == .lengthDelimited else { try reader.skip(wireType, number: number); continue }
                    let nested = try reader.readBytes()
                    if field.isRepeated {
                        let index = repeated[number]?.count ?? 0
                        repeated[number, default: []].append(
                            try decodeMessage(nested, type: valueType, path: fieldPath + "[\(index)]", depth: depth + 1))
                    } else {
                        singularMessages[number, default: []].append(contentsOf: nested)
                    }
                    continue
                }
                let expected = self.wireType(field.kind)
                if field.isRepeated, wireType == .lengthDelimited, expected != .lengthDelimited {
                    var packed = try reader.subReader()
                    while !packed.isAtEnd { repeated[number, default: []].append(try readValue(&packed, kind: field.kind)) }
                } else if wireType == expected {
                    let value = try readValue(&reader, kind: field.kind)
                    if field.isRepeated { repeated[number, default: []].append(value) } else { singular[number] = value }
                } else {
                    try reader.skip(wireType, number: number)
                }
            }
        } catch let error as ProtoJSONError {
            throw error
        } catch {
            throw ProtoJSONError(path: path, "malformed protobuf: \(error)")
        }
        var members: [(String, JSONValue)] = []
        for field in descriptor.fields {
            if field.isMap {
                guard let entries = maps[field.number] else { continue }
                var byKey: [String: JSONValue] = [:]
                for entry in entries { byKey[entry.key] = entry.value }
                members.append((field.jsonName, .object(byKey.keys.sorted().map { ($0, byKey[$0]!) })))
            } else if field.isRepeated {
                if let values = repeated[field.number], !values.isEmpty { members.append((field.jsonName, .array(values))) }
            } else if case .message(let valueType) = field.kind {
                if let nested = singularMessages[field.number] {
                    members.append((field.jsonName, try decodeMessage(nested, type: valueType, path: child(path, field.jsonName), depth: depth + 1)))
                }
            } else if let value = singular[field.number] {
                if field.hasPresence || !value.isDefault { members.append((field.jsonName, value)) }
            }
        }
        return .object(members)
    }

    private func defaultKey(_ kind: ProtoScalarKind) -> String {
        switch kind {
        case .bool: "false"
        case .string: ""
        default: "0"
        }
    }

    private func defaultValue(_ kind: ProtoValueKind) -> JSONValue {
        switch kind {
        case .scalar(let scalar):
            switch scalar {
            case .string, .bytes: return .string("")
            case .bool: return .bool(false)
            case .int64, .uint64, .sint64, .fixed64, .sfixed64: return .int64("0")
            default: return .number("0")
            }
        case .enumeration(let type): return .string(descriptors.enums[type]?.name(of: 0) ?? "0")
        case .message: return .object([])
        }
    }

    private func readValue(_ reader: inout ProtoReader, kind: ProtoValueKind) throws -> JSONValue {
        switch kind {
        case .scalar(let scalar): return try readScalar(&reader, kind: scalar)
        case .enumeration(let type):
            let number = try reader.readInt32()
            if let name = descriptors.enums[type]?.name(of: number) { return .enumName(name, number) }
            return .number(String(number))
        case .message:
            preconditionFailure("messages are decoded apart")
        }
    }

    private func readScalar(_ reader: inout ProtoReader, kind: ProtoScalarKind) throws -> JSONValue {
        switch kind {
        case .double: return .double(try reader.readDouble())
        case .float: return .float(try reader.readFloat())
        case .int32: return .number(String(try reader.readInt32()))
        case .sint32: return .number(String(try reader.readSInt32()))
        case .sfixed32: return .number(String(try reader.readSFixed32()))
        case .uint32: return .number(String(try reader.readUInt32()))
        case .fixed32: return .number(String(try reader.readFixed32()))
        case .int64: return .int64(String(try reader.readInt64()))
        case .sint64: return .int64(String(try reader.readSInt64()))
        case .sfixed64: return .int64(String(try reader.readSFixed64()))
        case .uint64: return .int64(String(try reader.readUInt64()))
        case .fixed64: return .int64(String(try reader.readFixed64()))
        case .bool: return .bool(try reader.readBool())
        case .string: return .string(try reader.readString())
        case .bytes: return .bytes(try reader.readBytes())
        }
    }
}

func quoted(_ text: String) -> String {
    var out: [UInt8] = []
    JSONValue.writeString(text, to: &out)
    return String(decoding: out, as: UTF8.self)
}

/// A JSON value as the writer needs it: numbers kept as their text, object members in order.
indirect enum JSONValue {
    case null
    case bool(Bool)
    case number(String)
    case double(Double)
    case float(Float)
    case string(String)
    /// A 64-bit integer, written as a JSON string.
    case int64(String)
    case bytes([UInt8])
    case enumName(String, Int32)
    case array([JSONValue])
    case object([(String, JSONValue)])

    var isDefault: Bool {
        switch self {
        case .null: true
        case .bool(let b): !b
        case .number(let text): text == "0"
        case .double(let d): d.bitPattern == 0
        case .float(let f): f.bitPattern == 0
        case .string(let s): s.isEmpty
        case .int64(let text): text == "0"
        case .bytes(let b): b.isEmpty
        case .enumName(_, let number): number == 0
        case .array(let a): a.isEmpty
        case .object: false
        }
    }

    /// Map keys are JSON strings.
    var mapKeyText: String {
        switch self {
        case .bool(let b): b ? "true" : "false"
        case .number(let text), .string(let text), .int64(let text): text
        default: ""
        }
    }

    func write(to out: inout [UInt8]) {
        switch self {
        case .null: out.append(contentsOf: "null".utf8)
        case .bool(let b): out.append(contentsOf: (b ? "true" : "false").utf8)
        case .number(let text): out.append(contentsOf: text.utf8)
        case .double(let d): Self.writeFloating(d, text: "\(d)", to: &out)
        case .float(let f): Self.writeFloating(Double(f), text: "\(f)", to: &out)
        case .string(let s), .int64(let s): Self.writeString(s, to: &out)
        case .bytes(let b): Self.writeString(Data(b).base64EncodedString(), to: &out)
        case .enumName(let name, _): Self.writeString(name, to: &out)
        case .array(let values):
            out.append(UInt8(ascii: "["))
            for (i, value) in values.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                value.write(to: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let members):
            out.append(UInt8(ascii: "{"))
            for (i, member) in members.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                Self.writeString(member.0, to: &out)
                out.append(UInt8(ascii: ":"))
                member.1.write(to: &out)
            }
            out.append(UInt8(ascii: "}"))
        }
    }

    private static func writeFloating(_ value: Double, text: String, to out: inout [UInt8]) {
        if value.isNaN { return writeString("NaN", to: &out) }
        if value.isInfinite { return writeString(value < 0 ? "-Infinity" : "Infinity", to: &out) }
        var text = text
        if text.hasSuffix(".0") { text.removeLast(2) }
        out.append(contentsOf: text.utf8)
    }

    static func writeString(_ s: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        for byte in s.utf8 {
            switch byte {
            case UInt8(ascii: "\""): out.append(contentsOf: "\\\"".utf8)
            case UInt8(ascii: "\\"): out.append(contentsOf: "\\\\".utf8)
            case 0x0A: out.append(contentsOf: "\\n".utf8)
            case 0x0D: out.append(contentsOf: "\\r".utf8)
            case 0x09: out.append(contentsOf: "\\t".utf8)
            case 0..<0x20:
                let hex = Array("0123456789abcdef".utf8)
                out.append(contentsOf: "\\u00".utf8)
                out.append(hex[Int(byte >> 4)])
                out.append(hex[Int(byte & 0xF)])
            default: out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}

extension ProtoJSONTranscoder {
    /// `text` as a JSON string literal (quotes and escapes included).
    public static func quote(_ text: String) -> String { quoted(text) }
}
