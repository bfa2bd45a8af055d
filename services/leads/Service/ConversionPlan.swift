import CRMProto
import Foundation
import RPCCore
import ServiceRuntime

/// The facts of a ConvertLead call, validated before any peer is called (R3: key person, need,
/// budget, timeline and competitors; line 3: a next action and an owner). Defaults come from the lead.
struct ConversionPlan: Sendable {
    var existingCustomerID: String
    var customerName: String
    var industry: String
    var region: String
    var tags: [String]
    var force: Bool
    var forceReason: String
    var keyContactID: String
    var keyName: String
    var keyJobTitle: String
    var keyPhone: String
    var keyEmail: String
    var title: String
    var amountCents: Int64
    var currency: String
    var need: String
    var budgetCents: Int64
    var expectedCloseDate: String
    var competitors: [String]
    var noCompetitors: Bool
    var nextStep: String
    var nextStepDueMs: Int64
    var ownerID: String

    static func validate(_ request: Crm_Leads_V1_ConvertLeadRequest, lead: LeadRow, settings: LeadSettingsValues,
                         now: Int64) throws -> ConversionPlan {
        var problems = FieldProblems()
        let customer = request.customer ?? Crm_Leads_V1_ConversionCustomer()
        let key = request.keyPerson ?? Crm_Leads_V1_ConversionKeyPerson()
        let opportunity = request.opportunity ?? Crm_Leads_V1_ConversionOpportunity()
        let existing = problems.text("existing_customer_id", request.existingCustomerId, max: 200)

        let defaultName = lead.company.isEmpty ? lead.contactName : lead.company
        var customerName = problems.text("customer.name", customer.name, max: 200)
        if customerName.isEmpty { customerName = defaultName }
        let tags = customer.tags.map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        if tags.count > 50 { problems.add("customer.tags", "at most 50 tags") }
        if tags.contains(where: { $0.count > 100 }) { problems.add("customer.tags", "each tag at most 100 characters") }
        let forceReason = problems.text("customer.force_reason", customer.forceReason, required: customer.force, max: 1000)
        var industry = problems.text("customer.industry", customer.industry, max: 100)
        if industry.isEmpty { industry = lead.industry }
        var region = problems.text("customer.region", customer.region, max: 100)
        if region.isEmpty { region = lead.region }

        let keyContactID = problems.text("key_person.contact_id", key.contactId, max: 200)
        if !keyContactID.isEmpty && existing.isEmpty {
            problems.add("key_person.contact_id", "only with existing_customer_id (a new customer's key person is created)")
        }
        var keyName = problems.text("key_person.name", key.name, max: 200)
        if keyName.isEmpty { keyName = lead.contactName }
        var keyJobTitle = problems.text("key_person.job_title", key.jobTitle, max: 200)
        if keyJobTitle.isEmpty { keyJobTitle = lead.jobTitle }
        var keyPhone = lead.phone, keyEmail = lead.email
        let rawPhone = key.phone.trimmingCharacters(in: .whitespaces)
        if !rawPhone.isEmpty {
            if let phone = PhoneNumbers.normalize(rawPhone, defaultRegion: settings.defaultPhoneRegion) {
                keyPhone = phone
            } else {
                problems.add("key_person.phone", "not a phone number")
            }
        }
        let rawEmail = key.email.trimmingCharacters(in: .whitespaces)
        if !rawEmail.isEmpty {
            if let email = ContactPoint.normalizeEmail(rawEmail) { keyEmail = email } else {
                problems.add("key_person.email", "not an email address")
            }
        }
        if keyContactID.isEmpty && keyName.isEmpty { problems.add("key_person.name", "required (R3: key person)") }
        if keyContactID.isEmpty && keyPhone.isEmpty && keyEmail.isEmpty {
            problems.add("key_person.phone", "phone or email of the key person required")
        }

        var need = problems.text("opportunity.need", opportunity.need, max: 4000)
        if need.isEmpty { need = lead.initialNeed }
        if need.isEmpty { problems.add("opportunity.need", "required (R3: need)") }
        if opportunity.budgetCents <= 0 { problems.add("opportunity.budget_cents", "required, greater than 0 (R3: budget)") }
        if opportunity.amountCents < 0 { problems.add("opportunity.amount_cents", "must not be negative") }
        let amount = opportunity.amountCents > 0 ? opportunity.amountCents : opportunity.budgetCents
        let currency = opportunity.currency.trimmingCharacters(in: .whitespaces)
        if currency.isEmpty {
            problems.add("opportunity.currency", "required (ISO 4217, e.g. EUR)")
        } else if currency.count != 3 || !currency.unicodeScalars.allSatisfy({ ("A"..."Z").contains($0) }) {
            problems.add("opportunity.currency", "not an ISO 4217 code (e.g. EUR)")
        }
        let closeDate = opportunity.expectedCloseDate.trimmingCharacters(in: .whitespaces)
        if closeDate.isEmpty {
            problems.add("opportunity.expected_close_date", "required (R3: timeline)")
        } else if let day = CalendarDate.parse(closeDate) {
            if day < CalendarDate.day(ofMs: now) {
                problems.add("opportunity.expected_close_date", "in the past")
            }
        } else {
            problems.add("opportunity.expected_close_date", "not a YYYY-MM-DD date")
        }
        let competitors = opportunity.competitors.map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        if competitors.isEmpty && !opportunity.noCompetitors {
            problems.add("opportunity.competitors", "required, or set no_competitors (R3: competitors)")
        }
        if !competitors.isEmpty && opportunity.noCompetitors {
            problems.add("opportunity.no_competitors", "contradicts the listed competitors")
        }
        if competitors.count > 50 { problems.add("opportunity.competitors", "at most 50") }
        let nextStep = problems.text("opportunity.next_step", opportunity.nextStep, required: true, max: 1000)
        if opportunity.nextStepDueMs <= 0 {
            problems.add("opportunity.next_step_due_ms", "required")
        } else if opportunity.nextStepDueMs < now {
            problems.add("opportunity.next_step_due_ms", "in the past")
        }
        var title = problems.text("opportunity.title", opportunity.title, max: 200)
        if title.isEmpty { title = String("\(customerName): \(need)".prefix(200)) }
        var owner = opportunity.ownerId.trimmingCharacters(in: .whitespaces)
        if owner.isEmpty { owner = lead.ownerId }
        try problems.throwIfAny()
        return ConversionPlan(
            existingCustomerID: existing, customerName: customerName, industry: industry, region: region, tags: tags,
            force: customer.force, forceReason: forceReason, keyContactID: keyContactID, keyName: keyName,
            keyJobTitle: keyJobTitle, keyPhone: keyPhone, keyEmail: keyEmail, title: title, amountCents: amount,
            currency: currency, need: need, budgetCents: opportunity.budgetCents, expectedCloseDate: closeDate,
            competitors: competitors, noCompetitors: opportunity.noCompetitors, nextStep: nextStep,
            nextStepDueMs: opportunity.nextStepDueMs, ownerID: owner)
    }
}
