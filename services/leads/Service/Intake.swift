import CRMProto
import Foundation
import RPCCore
import ServiceRuntime

/// One invalid field of an input (R1: missing fields are named).
struct FieldProblem: Sendable, Equatable {
    var field: String
    var message: String

    var proto: Crm_Leads_V1_FieldError { Crm_Leads_V1_FieldError(field: field, message: message) }
}

/// Every R1 problem of one input at once; becomes INVALID_ARGUMENT naming each field, or a bulk
/// row's `field_errors`.
struct FieldProblems: Error, Sendable {
    var problems: [FieldProblem] = []

    mutating func add(_ field: String, _ message: String) { problems.append(FieldProblem(field: field, message: message)) }
    var isEmpty: Bool { problems.isEmpty }

    var rpcError: RPCError {
        RPCError(.invalidArgument, problems.map { "\($0.field): \($0.message)" }.joined(separator: "; "))
    }

    func throwIfAny() throws { if !problems.isEmpty { throw self } }

    /// Trimmed text; "required" when empty; length-limited.
    mutating func text(_ field: String, _ value: String, required: Bool = false, max: Int) -> String {
        let trimmed = value.trimmed
        if required && trimmed.isEmpty { add(field, "required") }
        if trimmed.count > max { add(field, "at most \(max) characters, got \(trimmed.count)") }
        return trimmed
    }
}

/// The intake facts of a lead after R1 validation: trimmed, phone in E.164, email lower-cased.
struct ValidatedLead: Sendable {
    var source: Crm_Leads_V1_LeadSource
    var sourceDetail: String
    var scenario: String
    var contactName: String
    var phone: String
    var email: String
    var jobTitle: String
    var company: String
    var region: String
    var industry: String
    var background: String
    var initialNeed: String
    var attributes: [String: String]
    var force: Bool
    var forceReason: String
}

/// Where intake sends a new lead (IntakeRouting), checked against the caller.
enum IntakeRoute: Sendable, Equatable {
    case rules, pool, caller
    case owner(String)
}

/// R1: a lead needs source, scenario, a contact method (phone or email, validated), background and
/// initial need. Everything wrong with an input is reported together.
enum IntakeValidation {
    static let maxAttributes = 100

    static func validate(_ input: Crm_Leads_V1_LeadInput?, defaultPhoneRegion: String,
                         problems: inout FieldProblems) -> ValidatedLead {
        let input = input ?? Crm_Leads_V1_LeadInput()
        switch input.source {
        case .unspecified: problems.add("source", "required")
        case .unrecognized(let number): problems.add("source", "unknown value \(number)")
        default: break
        }
        let sourceDetail = problems.text("source_detail", input.sourceDetail, max: 200)
        let scenario = problems.text("scenario", input.scenario, required: true, max: 4000)
        let contactName = problems.text("contact_name", input.contactName, required: true, max: 200)
        let rawPhone = input.phone.trimmed
        let rawEmail = input.email.trimmed
        var phone = "", email = ""
        if rawPhone.isEmpty && rawEmail.isEmpty {
            problems.add("phone", "required when email is empty (R1: a contact method)")
            problems.add("email", "required when phone is empty (R1: a contact method)")
        }
        if !rawPhone.isEmpty {
            if let normalized = PhoneNumbers.normalize(rawPhone, defaultRegion: defaultPhoneRegion) {
                phone = normalized
            } else {
                problems.add("phone", "not a phone number")
            }
        }
        if !rawEmail.isEmpty {
            if let normalized = ContactPoint.normalizeEmail(rawEmail) {
                email = normalized
            } else {
                problems.add("email", "not an email address")
            }
        }
        let jobTitle = problems.text("job_title", input.jobTitle, max: 200)
        let company = problems.text("company", input.company, max: 200)
        let region = problems.text("region", input.region, max: 100)
        let industry = problems.text("industry", input.industry, max: 100)
        let background = problems.text("background", input.background, required: true, max: 4000)
        let initialNeed = problems.text("initial_need", input.initialNeed, required: true, max: 4000)
        let attributes = ProtoMaps.fromProto(input.attributes)
        if attributes.count > maxAttributes {
            problems.add("attributes", "at most \(maxAttributes) entries, got \(attributes.count)")
        }
        if attributes.keys.contains(where: { $0.isEmpty || $0.count > 128 }) {
            problems.add("attributes", "keys must be 1 to 128 characters")
        }
        if attributes.values.contains(where: { $0.count > 2000 }) {
            problems.add("attributes", "values must be at most 2000 characters")
        }
        let forceReason = problems.text("force_reason", input.forceReason, required: input.force, max: 1000)
        return ValidatedLead(
            source: input.source, sourceDetail: sourceDetail, scenario: scenario, contactName: contactName,
            phone: phone, email: email, jobTitle: jobTitle, company: company, region: region,
            industry: industry, background: background, initialNeed: initialNeed, attributes: attributes,
            force: input.force, forceReason: forceReason)
    }

    /// The routing a create asks for. OWNER routing is for managers and admins (PERMISSION_DENIED).
    static func route(_ routing: Crm_Leads_V1_IntakeRouting, ownerID: String, caller: Caller,
                      problems: inout FieldProblems) throws -> IntakeRoute {
        let owner = ownerID.trimmed
        switch routing {
        case .unspecified, .rules, .pool, .caller:
            if !owner.isEmpty { problems.add("owner_id", "only with INTAKE_ROUTING_OWNER") }
            switch routing {
            case .pool: return .pool
            case .caller: return .caller
            default: return .rules
            }
        case .owner:
            if owner.isEmpty {
                problems.add("owner_id", "required with INTAKE_ROUTING_OWNER")
                return .pool
            }
            if owner != caller.userID {
                try caller.requireManager("assigning a new lead to \(owner)")
            }
            return .owner(owner)
        case .unrecognized(let number):
            problems.add("routing", "unknown value \(number)")
            return .pool
        }
    }
}
