import CRMProto
import RPCCore
import ServiceRuntime

/// UpdateOpportunity's rules: set fields change, R3 facts are never cleared.
enum UpdateRules {
    static func validate(_ r: Crm_Opportunities_V1_UpdateOpportunityRequest) throws {
        var errors = FieldErrors()
        errors.require("opportunity_id", r.opportunityId)
        if r.version <= 0 { errors.add("version", "required (the version this update changes)") }
        if let title = r.title {
            if title.isBlank { errors.add("title", "cannot be cleared (R3)") }
            errors.maxLength("title", title, 300)
        }
        if let amount = r.amountCents, amount <= 0 { errors.add("amount_cents", "must be positive") }
        if let id = r.keyPersonContactId, id.isBlank {
            errors.add("key_person_contact_id", "cannot be cleared (R3); set key_person_left when the key person left")
        }
        if let need = r.need, need.isBlank { errors.add("need", "cannot be cleared (R3)") }
        if let budget = r.budgetCents, budget <= 0 { errors.add("budget_cents", "must be positive") }
        if let date = r.expectedCloseDate, CivilDate(parsing: date.trimmed) == nil {
            errors.add("expected_close_date", "not a date (YYYY-MM-DD): '\(date)'")
        }
        if let owner = r.ownerId {
            if owner.isBlank { errors.add("owner_id", "cannot be cleared (every opportunity has an owner)") }
            if r.reason.isBlank { errors.add("reason", "required when changing the owner") }
        }
        let changes: [Bool] = [
            r.title != nil, r.amountCents != nil, r.keyPersonContactId != nil, r.keyPersonLeft,
            r.keyPersonConfirmed != nil, r.need != nil, r.budgetCents != nil, r.expectedCloseDate != nil,
            r.competitors != nil, r.noCompetitors != nil, r.ownerId != nil,
        ]
        let nothing = !changes.contains(true)
        if nothing && !r.opportunityId.isBlank { errors.add("opportunity_id", "the request changes nothing") }
        try errors.throwIfAny()
    }

    static func apply(_ r: Crm_Opportunities_V1_UpdateOpportunityRequest, to o: inout Opportunity, keyPersonName: String?) throws {
        if let title = r.title { o.title = title.trimmed }
        if let amount = r.amountCents { o.amountCents = amount }
        if let need = r.need { o.need = need.trimmed }
        if let budget = r.budgetCents { o.budgetCents = budget }
        if let date = r.expectedCloseDate, let parsed = CivilDate(parsing: date.trimmed) { o.expectedCloseDate = parsed.description }
        if r.keyPersonLeft && r.keyPersonContactId == nil {
            o.keyPersonContactId = ""
            o.keyPersonName = ""
            o.keyPersonConfirmed = false
            o.keyPersonMet = false
        }
        if let id = r.keyPersonContactId?.trimmed, id != o.keyPersonContactId {
            o.keyPersonContactId = id
            o.keyPersonName = keyPersonName ?? ""
            o.keyPersonConfirmed = false
            o.keyPersonMet = false
        }
        if let confirmed = r.keyPersonConfirmed {
            if confirmed && o.keyPersonContactId.isEmpty {
                throw RPCError(.failedPrecondition, "R8: there is no key person to confirm; name one (key_person_contact_id)")
            }
            o.keyPersonConfirmed = confirmed
        }
        var competitors = o.competitors, none = o.noCompetitors
        if let list = r.competitors { competitors = CompetitorList.clean(list.values) }
        if let flag = r.noCompetitors { none = flag }
        // Naming competitors ends "no competitors", and declaring none drops the old names, unless the
        // request sets both (then they must agree).
        if r.noCompetitors == nil && !competitors.isEmpty && r.competitors != nil { none = false }
        if r.competitors == nil && r.noCompetitors == true { competitors = [] }
        if r.competitors != nil || r.noCompetitors != nil {
            var errors = FieldErrors()
            CompetitorList.check(competitors, noCompetitors: none, into: &errors)
            try errors.throwIfAny()
            o.competitors = competitors
            o.noCompetitors = none
        }
    }
}
