import CRMProto
import Foundation
import ServiceRuntime

/// R3: an opportunity is created complete — customer, title, amount and currency, key person, need,
/// budget, expected close date, competitors (or explicitly none), owner and the first next step.
/// Anything missing answers INVALID_ARGUMENT naming every field at once.
struct NewOpportunity {
    var customerID: String
    var title: String
    var amountCents: Int64
    var currency: String
    var keyPersonContactID: String
    var need: String
    var budgetCents: Int64
    var expectedCloseDate: String
    var competitors: [String]
    var noCompetitors: Bool
    var ownerID: String
    var nextStep: String
    var nextStepDueMs: Int64
    var initialStage: Stage

    static func validate(_ r: Crm_Opportunities_V1_CreateOpportunityRequest) throws -> NewOpportunity {
        var errors = FieldErrors()
        errors.maxLength("request_id", r.requestId, 200)
        errors.maxLength("lead_id", r.leadId, 200)
        let customerID = errors.require("customer_id", r.customerId)
        let title = errors.require("title", r.title)
        errors.maxLength("title", title, 300)
        if r.amountCents <= 0 { errors.add("amount_cents", r.amountCents == 0 ? "required (a positive amount)" : "must be positive") }
        let currency = errors.require("currency", r.currency).uppercased()
        if !currency.isEmpty && !Money.isCurrencyCode(currency) { errors.add("currency", "not an ISO 4217 code: '\(r.currency)'") }
        let keyPerson = errors.require("key_person_contact_id", r.keyPersonContactId)
        let need = errors.require("need", r.need)
        errors.maxLength("need", need, 4000)
        if r.budgetCents <= 0 { errors.add("budget_cents", r.budgetCents == 0 ? "required (the customer's budget)" : "must be positive") }
        let closeDate = errors.require("expected_close_date", r.expectedCloseDate)
        if !closeDate.isEmpty && CivilDate(parsing: closeDate) == nil {
            errors.add("expected_close_date", "not a date (YYYY-MM-DD): '\(closeDate)'")
        }
        let competitors = CompetitorList.clean(r.competitors)
        CompetitorList.check(competitors, noCompetitors: r.noCompetitors, into: &errors)
        let nextStep = errors.require("next_step", r.nextStep)
        errors.maxLength("next_step", nextStep, 1000)
        if r.nextStepDueMs <= 0 { errors.add("next_step_due_ms", "required (when the next step is due)") }
        var stage = r.initialStage
        switch stage {
        case .unspecified: stage = .relationship
        case .won, .lost: errors.add("initial_stage", "an opportunity cannot be created \(StageLadder.label(stage)); create it open, then MarkWon / MarkLost")
        case .unrecognized(let n): errors.add("initial_stage", "unknown stage \(n)")
        default: break
        }
        StageFactsInput.validate(r.facts, into: &errors)
        try errors.throwIfAny()
        return NewOpportunity(
            customerID: customerID, title: title, amountCents: r.amountCents, currency: currency,
            keyPersonContactID: keyPerson, need: need, budgetCents: r.budgetCents,
            expectedCloseDate: CivilDate(parsing: closeDate)!.description, competitors: competitors,
            noCompetitors: r.noCompetitors, ownerID: r.ownerId.trimmed, nextStep: nextStep,
            nextStepDueMs: r.nextStepDueMs, initialStage: stage)
    }
}

/// Competitors are part of R3: name them, or say explicitly that there are none.
enum CompetitorList {
    static func clean(_ names: [String]) -> [String] {
        var seen = Set<String>()
        return names.map(\.trimmed).filter { !$0.isEmpty && seen.insert($0.lowercased()).inserted }
    }

    static func check(_ competitors: [String], noCompetitors: Bool, into errors: inout FieldErrors) {
        if competitors.isEmpty && !noCompetitors {
            errors.add("competitors", "required (name them, or set no_competitors)")
        } else if !competitors.isEmpty && noCompetitors {
            errors.add("no_competitors", "contradicts the competitors named")
        }
        if competitors.count > 50 { errors.add("competitors", "at most 50") }
        for name in competitors { errors.maxLength("competitors", name, 200) }
    }
}
