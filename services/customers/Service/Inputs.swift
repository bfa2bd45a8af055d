import CRMProto
import ProtoWire
import ServiceRuntime

/// Field checks shared by every request: each problem is collected so one INVALID_ARGUMENT names
/// every bad field (SUITE.md "Errors").
extension FieldErrors {
    /// A trimmed single-line text field with a length limit; `required` adds "required" when empty.
    mutating func text(_ field: String, _ value: String, max: Int, required: Bool = false) -> String {
        let trimmed = value.trimmingCharacters(in: .whitespacesAndNewlines)
        if required, trimmed.isEmpty { add(field, "required") }
        if trimmed.count > max { add(field, "at most \(max) characters, got \(trimmed.count)") }
        if trimmed.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) {
            add(field, "must not contain control characters")
        }
        return trimmed
    }

    /// Free text (notes): newlines allowed, length limited.
    mutating func note(_ field: String, _ value: String, max: Int) -> String {
        let trimmed = value.trimmingCharacters(in: .whitespacesAndNewlines)
        if trimmed.count > max { add(field, "at most \(max) characters, got \(trimmed.count)") }
        return trimmed
    }

    /// An identifier (user id, record id): non-empty when required, short, no whitespace or control characters.
    mutating func identifier(_ field: String, _ value: String, required: Bool = true) -> String {
        if value.isEmpty {
            if required { add(field, "required") }
            return value
        }
        if value.count > Limits.identifier { add(field, "at most \(Limits.identifier) characters, got \(value.count)") }
        // Ids are ASCII in practice: check their bytes, and ask Unicode's tables only for the rest.
        let visibleASCII = value.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7F }
        if !visibleASCII, value.unicodeScalars.contains(where: { $0.properties.isWhitespace || $0.properties.generalCategory == .control }) {
            add(field, "must not contain whitespace or control characters")
        }
        return value
    }

    /// An optional phone number, normalised to `+` and digits.
    mutating func phone(_ field: String, _ value: String) -> String {
        let trimmed = value.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !trimmed.isEmpty else { return "" }
        guard let normalized = ContactPoint.normalizePhone(trimmed) else {
            add(field, "not a phone number")
            return ""
        }
        return normalized
    }

    /// An optional email address, normalised to lower case.
    mutating func email(_ field: String, _ value: String) -> String {
        let trimmed = value.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !trimmed.isEmpty else { return "" }
        guard let normalized = ContactPoint.normalizeEmail(trimmed) else {
            add(field, "not an email address")
            return ""
        }
        return normalized
    }

    /// An enum value this version knows; `allowUnspecified` accepts 0.
    mutating func known<E: ProtoEnum>(_ field: String, _ value: E, allowUnspecified: Bool = true) {
        if value.rawValue == 0 {
            if !allowUnspecified { add(field, "required") }
        } else if !E.allCases.contains(value) {
            add(field, "unknown value \(value.rawValue)")
        }
    }

    /// Tags: trimmed, non-empty, unique, short, at most `Limits.tags` of them.
    mutating func tags(_ field: String, _ values: [String]) -> [String] {
        if values.count > Limits.tags { add(field, "at most \(Limits.tags) tags, got \(values.count)") }
        var seen = Set<String>(), result: [String] = []
        for (i, raw) in values.enumerated() {
            let tag = text("\(field)[\(i)]", raw, max: Limits.tag, required: true)
            if !tag.isEmpty, seen.insert(tag).inserted { result.append(tag) }
        }
        return result
    }
}

/// Size limits of stored text.
enum Limits {
    static let name = 200
    static let shortText = 100
    static let longText = 500
    static let notes = 5000
    static let reason = 1000
    static let identifier = 128
    static let tag = 50
    static let tags = 50
    static let collaborators = 50
    static let contactsPerCreate = 50
    static let batchGet = 500
}

/// A validated, normalised customer profile (CustomerInput).
struct CustomerProfile: Sendable {
    var name = "", industry = "", region = "", website = "", address = "", notes = "", phone = "", email = ""
    var sourceDetail = ""
    var size: Crm_Customers_V1_CompanySize = .unspecified
    var tags: [String] = []
    var grade: CustomerGrade = .c
    var source: Crm_Leads_V1_LeadSource = .unspecified
    var initialStatus: LifecycleStatus = .new

    init() {}

    init(_ input: Crm_Customers_V1_CustomerInput, field prefix: String, errors: inout FieldErrors) {
        name = errors.text("\(prefix)name", input.name, max: Limits.name, required: true)
        industry = errors.text("\(prefix)industry", input.industry, max: Limits.shortText)
        region = errors.text("\(prefix)region", input.region, max: Limits.shortText)
        errors.known("\(prefix)size", input.size)
        size = input.size
        tags = errors.tags("\(prefix)tags", input.tags)
        website = errors.text("\(prefix)website", input.website, max: Limits.longText)
        address = errors.text("\(prefix)address", input.address, max: Limits.longText)
        notes = errors.note("\(prefix)notes", input.notes, max: Limits.notes)
        phone = errors.phone("\(prefix)phone", input.phone)
        email = errors.email("\(prefix)email", input.email)
        grade = Self.grade("\(prefix)grade", input.grade, errors: &errors) ?? .c
        errors.known("\(prefix)source", input.source)
        source = input.source
        sourceDetail = errors.text("\(prefix)source_detail", input.sourceDetail, max: Limits.longText)
        errors.known("\(prefix)initial_status", input.initialStatus)
        initialStatus = input.initialStatus == .unspecified ? .new : input.initialStatus
    }

    /// Grades A, B or C; KEY only through MarkKey (R7). nil for UNSPECIFIED.
    static func grade(_ field: String, _ grade: CustomerGrade, errors: inout FieldErrors) -> CustomerGrade? {
        switch grade {
        case .unspecified: return nil
        case .a, .b, .c: return grade
        case .key:
            errors.add(field, "KEY is set only through MarkKey with a reason (R7)")
            return nil
        default:
            errors.add(field, "unknown value \(grade.rawValue)")
            return nil
        }
    }
}

/// A validated, normalised contact (ContactInput): name and at least one valid phone or email.
struct ContactProfile: Sendable {
    var name = "", jobTitle = "", phone = "", email = "", notes = ""
    var role: Crm_Customers_V1_ContactRole = .unspecified
    var keyPerson = false

    init(_ input: Crm_Customers_V1_ContactInput, field prefix: String, errors: inout FieldErrors) {
        name = errors.text("\(prefix)name", input.name, max: Limits.name, required: true)
        jobTitle = errors.text("\(prefix)job_title", input.jobTitle, max: Limits.shortText)
        errors.known("\(prefix)role", input.role)
        role = input.role
        let rawPhone = input.phone.trimmingCharacters(in: .whitespacesAndNewlines)
        let rawEmail = input.email.trimmingCharacters(in: .whitespacesAndNewlines)
        if rawPhone.isEmpty, rawEmail.isEmpty {
            errors.add("\(prefix)phone", "a phone or an email is required")
            errors.add("\(prefix)email", "a phone or an email is required")
        }
        phone = errors.phone("\(prefix)phone", rawPhone)
        email = errors.email("\(prefix)email", rawEmail)
        keyPerson = input.keyPerson
        notes = errors.note("\(prefix)notes", input.notes, max: Limits.notes)
    }

    func contact(id: String, customerID: String, nowMs: Int64) -> Contact {
        Contact(id: id, version: 1, customerId: customerID, name: name, jobTitle: jobTitle, role: role, phone: phone,
                email: email, keyPerson: keyPerson, notes: notes, archived: false, createdAtMs: nowMs, updatedAtMs: nowMs)
    }
}
