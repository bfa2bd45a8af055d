import Foundation
import ProtoWire

/// What one kind of CSV row becomes: the request message a row fills, the part of it plain field
/// names refer to, and the call that stores it through the owning service's own validation.
struct CSVKind: Sendable {
    let name: String
    let service: String
    /// The message built per row (leads: one row of a CreateLeads batch).
    let envelope: String
    /// JSON key of the part of the envelope that field names resolve in first ("lead", "customer"…).
    let inputKey: String?
    let input: String
    /// `contact.<field>` fills the first contact of a customer.
    let contactInput: String?
    /// Unary create method (per row); nil for leads, which go through CreateLeads in batches.
    let method: String?
    let response: String?
    /// Where the stored record's id is in the response.
    let idKey: String?

    static let all: [CSVKind] = [
        CSVKind(name: "leads", service: "leads", envelope: "crm.leads.v1.LeadIntakeRow", inputKey: "lead",
                input: "crm.leads.v1.LeadInput", contactInput: nil, method: nil, response: nil, idKey: nil),
        CSVKind(name: "customers", service: "customers", envelope: "crm.customers.v1.CreateCustomerRequest",
                inputKey: "customer", input: "crm.customers.v1.CustomerInput", contactInput: "crm.customers.v1.ContactInput",
                method: "/crm.customers.v1.CustomerService/CreateCustomer", response: "crm.customers.v1.CreateCustomerResponse",
                idKey: "customer"),
        CSVKind(name: "contacts", service: "customers", envelope: "crm.customers.v1.AddContactRequest",
                inputKey: "contact", input: "crm.customers.v1.ContactInput", contactInput: nil,
                method: "/crm.customers.v1.CustomerService/AddContact", response: "crm.customers.v1.AddContactResponse",
                idKey: "contact"),
        CSVKind(name: "opportunities", service: "opportunities", envelope: "crm.opportunities.v1.CreateOpportunityRequest",
                inputKey: nil, input: "crm.opportunities.v1.CreateOpportunityRequest", contactInput: nil,
                method: "/crm.opportunities.v1.OpportunityService/CreateOpportunity",
                response: "crm.opportunities.v1.CreateOpportunityResponse", idKey: "opportunity"),
    ]
}

/// Where a `--map FIELD=COLUMN` puts a cell: the JSON keys from the envelope's root and the type
/// the cell's text must convert to.
struct FieldTarget {
    /// Keys from the root; "[0]" steps into the first element of an array (a customer's first contact).
    var keys: [String]
    /// The type of the value (of each element when repeated, of each value when a map entry).
    var kind: ProtoValueKind
    var repeated: Bool
    /// `amount=Amount` filling `amount_cents` from a column in currency units.
    var units = false
    var display: String
}

/// Resolves field names against the generated descriptors and turns cell text into proto3 JSON
/// values (as JSONSerialization would parse them, so the transcoder encodes them like a document).
struct CSVFieldResolver {
    let descriptors: ProtoDescriptorSet
    let kind: CSVKind

    func resolve(_ spec: String) throws -> FieldTarget {
        let components = spec.split(separator: ".").map(String.init)
        var scopes: [([String], String)] = []
        if let contactInput = kind.contactInput, components.first == "contact", components.count > 1 {
            if let found = try walk(Array(components.dropFirst()), descriptor(of: contactInput), keys: ["contacts", "[0]"], spec: spec) {
                return found
            }
        }
        if let inputKey = kind.inputKey { scopes.append(([inputKey], kind.input)) }
        scopes.append(([], kind.envelope))
        for (keys, message) in scopes {
            if let found = try walk(components, descriptor(of: message), keys: keys, spec: spec) { return found }
        }
        let names = try descriptor(of: kind.input).fields.map(\.name)
        throw AdminError("--map \(spec): no such field of \(kind.name) (fields: \(names.joined(separator: ", ")))", code: AdminExit.usage)
    }

    private func walk(_ components: [String], _ message: ProtoMessageDescriptor, keys: [String], spec: String) throws -> FieldTarget? {
        guard let first = components.first else { return nil }
        let rest = Array(components.dropFirst())
        if let field = message.field(named: first) ?? message.field(named: Self.snake(first)) {
            if field.isMap {
                // A map is filled one key at a time (attributes.utm_source).
                guard rest.count <= 1 else { return nil }
                guard let key = rest.first else {
                    throw AdminError("--map \(spec): \(field.name) is a map; map one of its keys (\(spec).<key>)", code: AdminExit.usage)
                }
                return FieldTarget(keys: keys + [field.jsonName, key], kind: field.kind, repeated: false, display: spec)
            }
            switch field.kind {
            case .message(let typeName) where !rest.isEmpty && !field.isRepeated:
                return try walk(rest, descriptor(of: typeName), keys: keys + [field.jsonName], spec: spec)
            case .message where rest.isEmpty:
                throw AdminError("--map \(spec): \(field.name) is a message; map one of its fields (\(spec).<field>)", code: AdminExit.usage)
            default:
                guard rest.isEmpty else { return nil }
                return FieldTarget(keys: keys + [field.jsonName], kind: field.kind, repeated: field.isRepeated, display: spec)
            }
        }
        if rest.isEmpty, let cents = message.field(named: Self.snake(first) + "_cents"), cents.kind == .scalar(.int64) {
            return FieldTarget(keys: keys + [cents.jsonName], kind: cents.kind, repeated: false, units: true, display: spec)
        }
        return nil
    }

    /// The kinds' message names are crm-admin's own constants: a missing one is a renamed contract.
    private func descriptor(of fullName: String) throws -> ProtoMessageDescriptor {
        guard let message = descriptors.messages[fullName] else {
            throw AdminError("internal: no contract for message \(fullName)")
        }
        return message
    }

    /// "Contact Name" / "contact-name" / "contactName" → "contact_name".
    static func snake(_ text: String) -> String {
        var result = ""
        for character in text.trimmingCharacters(in: .whitespaces) {
            if character.isUppercase, let last = result.last, last.isLowercase || last.isNumber { result += "_" }
            if character == " " || character == "-" || character == "/" {
                if !result.hasSuffix("_") { result += "_" }
            } else {
                result += character.lowercased()
            }
        }
        return result
    }

    // MARK: Cell text → JSON

    /// The JSON value of a cell; nil for an empty cell (the field stays unset). Errors name the field.
    func value(_ text: String, for target: FieldTarget) throws -> Any? {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !trimmed.isEmpty else { return nil }
        if target.repeated {
            let parts = trimmed.split(whereSeparator: { $0 == ";" || $0 == "|" })
                .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            return try parts.map { try single($0, target) }
        }
        return try single(trimmed, target)
    }

    private func single(_ text: String, _ target: FieldTarget) throws -> Any {
        func fail(_ reason: String) -> CSVCellError { CSVCellError(field: target.display, reason: reason) }
        switch target.kind {
        case .scalar(.string): return text
        case .scalar(.bytes): return Data(text.utf8).base64EncodedString()
        case .scalar(.bool):
            switch text.lowercased() {
            case "true", "yes", "y", "1", "x", "ja", "oui": return true
            case "false", "no", "n", "0", "nein", "non": return false
            default: throw fail("'\(text)' is not yes/no")
            }
        case .scalar(.double), .scalar(.float):
            guard let number = Double(text), number.isFinite else { throw fail("'\(text)' is not a number") }
            return number
        case .scalar(let scalar):
            if target.units {
                guard let cents = Self.cents(text) else { throw fail("'\(text)' is not an amount") }
                return String(cents)
            }
            if target.keys.last?.hasSuffix("Ms") == true, let ms = Self.milliseconds(text) {
                return String(ms)
            }
            let digits = text.replacingOccurrences(of: "_", with: "").replacingOccurrences(of: " ", with: "")
            guard let number = Int64(digits) else {
                throw fail(target.keys.last?.hasSuffix("Ms") == true
                           ? "'\(text)' is neither UTC milliseconds nor a date (2026-03-31 or 2026-03-31T09:00:00Z)"
                           : "'\(text)' is not a whole number")
            }
            // 64-bit integers (int64, uint64, sint64, fixed64, sfixed64) are JSON strings in the proto3 mapping.
            if scalar.rawValue.hasSuffix("64") { return String(number) }
            return number
        case .enumeration(let typeName):
            return try enumName(text, typeName: typeName, fail: fail)
        default:
            throw fail("cannot be filled from a CSV cell")
        }
    }

    /// Accepts the full name (LEAD_SOURCE_TRADE_SHOW), the name without the enum's prefix in any
    /// case and spacing ("Trade show", "trade-show"), a first or last word naming exactly one
    /// value ("Referral"), or the number.
    private func enumName(_ text: String, typeName: String, fail: (String) -> CSVCellError) throws -> String {
        guard let enumSchema = descriptors.enums[typeName] else { throw fail("unknown enum \(typeName)") }
        let prefix = Self.enumPrefix(enumSchema)
        let normalized = text.uppercased().map { $0.isLetter || $0.isNumber ? String($0) : "_" }.joined()
            .split(separator: "_").joined(separator: "_")
        if let match = enumSchema.values.first(where: { $0.name == normalized || $0.name == prefix + normalized }),
           match.number != 0 {
            return match.name
        }
        if let number = Int32(text), let name = enumSchema.name(of: number), number != 0 { return name }
        // A word of exactly one value's name ("Referral" for CUSTOMER_REFERRAL).
        let partial = enumSchema.values.filter { value in
            let short = value.name.dropFirst(prefix.count)
            return value.number != 0 && (short.hasSuffix("_" + normalized) || short.hasPrefix(normalized + "_"))
        }
        if partial.count == 1 { return partial[0].name }
        let options = enumSchema.values.filter { $0.number != 0 }.map { $0.name.dropFirst(prefix.count).lowercased() }
        throw fail("'\(text)' is not one of: \(options.joined(separator: ", "))")
    }

    static func enumPrefix(_ enumSchema: ProtoEnumDescriptor) -> String {
        if let zero = enumSchema.values.first(where: { $0.number == 0 }), zero.name.hasSuffix("UNSPECIFIED") {
            return String(zero.name.dropLast("UNSPECIFIED".count))
        }
        return ""
    }

    /// "1234.5" / "1,234.50" / "1234,50" (decimal comma) currency units → cents.
    static func cents(_ text: String) -> Int64? {
        var cleaned = text.filter { $0.isNumber || $0 == "." || $0 == "," || $0 == "-" }
        if let comma = cleaned.lastIndex(of: ","), cleaned[cleaned.index(after: comma)...].count <= 2, !cleaned.contains(".") {
            cleaned.replaceSubrange(comma...comma, with: ".")
        }
        cleaned.removeAll { $0 == "," }
        guard let value = Decimal(string: cleaned, locale: Locale(identifier: "en_US_POSIX")) else { return nil }
        var scaled = value * 100
        var rounded = Decimal()
        NSDecimalRound(&rounded, &scaled, 0, .plain)
        return Int64(exactly: NSDecimalNumber(decimal: rounded).doubleValue)
    }

    /// UTC milliseconds from an integer, a date (midnight UTC) or an ISO 8601 date-time.
    static func milliseconds(_ text: String) -> Int64? {
        if let ms = Int64(text) { return ms }
        let formatter = ISO8601DateFormatter()
        if let date = formatter.date(from: text) { return Int64((date.timeIntervalSince1970 * 1000).rounded()) }
        formatter.formatOptions = [.withFullDate]
        if text.count == 10, let date = formatter.date(from: text) { return Int64(date.timeIntervalSince1970 * 1000) }
        return nil
    }
}

struct CSVCellError: Error, CustomStringConvertible {
    var field: String
    var reason: String
    var description: String { "\(field): \(reason)" }
}

/// Sets `value` at `keys` in a JSON tree, creating objects (and the one-element array "[0]") on the way.
func assign(_ value: Any, at keys: ArraySlice<String>, in tree: inout Any) {
    guard let key = keys.first else {
        tree = value
        return
    }
    if key == "[0]" {
        var items = tree as? [Any] ?? []
        if items.isEmpty { items.append([String: Any]()) }
        assign(value, at: keys.dropFirst(), in: &items[0])
        tree = items
        return
    }
    var object = tree as? [String: Any] ?? [:]
    var child: Any = object[key] ?? NSNull()
    assign(value, at: keys.dropFirst(), in: &child)
    object[key] = child
    tree = object
}

extension ProtoMessageDescriptor {
    /// A field by its JSON name or its proto name, as proto3 JSON parsers accept both.
    func field(named name: String) -> ProtoFieldDescriptor? {
        fields.first { $0.jsonName == name } ?? fields.first { $0.name == name }
    }
}
