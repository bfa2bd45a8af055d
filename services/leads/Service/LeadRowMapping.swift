import CRMProto
import Foundation

/// Conversions between a stored lead and its proto shapes: the Lead record, a new lead from
/// validated intake facts, and a lead restored from an export record.
extension LeadRow {
    func proto(now: Int64, warningBeforeMs: Int64) -> Crm_Leads_V1_Lead {
        var lead = Crm_Leads_V1_Lead()
        lead.id = id
        lead.version = version
        lead.source = leadSource
        lead.sourceDetail = sourceDetail
        lead.scenario = scenario
        lead.contactName = contactName
        lead.phone = phone
        lead.email = email
        lead.jobTitle = jobTitle
        lead.company = company
        lead.region = region
        lead.industry = industry
        lead.background = background
        lead.initialNeed = initialNeed
        lead.attributes = ProtoMaps.toProto(Attributes.decode(attributes))
        lead.status = leadStatus
        lead.ownerId = ownerId
        lead.teamId = teamId
        lead.assignedAtMs = assignedAtMs
        lead.activationDeadlineMs = activationDeadlineMs
        lead.activationState = activationState(now: now, warningBeforeMs: warningBeforeMs)
        lead.activatedAtMs = activatedAtMs
        lead.lastContactAtMs = lastContactAtMs
        lead.contactAttempts = contactAttempts
        lead.reclaimCount = reclaimCount
        lead.disqualifyReason = Crm_Leads_V1_DisqualifyReason(rawValue: disqualifyReason)
        lead.disqualifyNote = disqualifyNote
        lead.customerId = customerId
        lead.opportunityId = opportunityId
        lead.convertedAtMs = convertedAtMs
        lead.createdBy = createdBy
        lead.createdAtMs = createdAtMs
        lead.updatedAtMs = updatedAtMs
        lead.closedAtMs = closedAtMs
        return lead
    }

    /// A lead restored from an export record as-is (ImportLeads).
    init(restoring lead: Crm_Leads_V1_Lead) {
        id = lead.id
        version = max(lead.version, 1)
        source = lead.source.rawValue
        sourceDetail = lead.sourceDetail
        scenario = lead.scenario
        contactName = lead.contactName
        phone = lead.phone
        email = lead.email
        jobTitle = lead.jobTitle
        company = lead.company
        region = lead.region
        industry = lead.industry
        background = lead.background
        initialNeed = lead.initialNeed
        attributes = Attributes.encode(ProtoMaps.fromProto(lead.attributes))
        forceReason = ""
        forcedDuplicateOf = ""
        status = lead.status.rawValue
        ownerId = lead.ownerId
        teamId = lead.teamId
        assignedAtMs = lead.assignedAtMs
        activationDeadlineMs = lead.activationDeadlineMs
        warnedAtMs = 0
        activatedAtMs = lead.activatedAtMs
        lastContactAtMs = lead.lastContactAtMs
        contactAttempts = lead.contactAttempts
        reclaimCount = lead.reclaimCount
        everInPool = lead.reclaimCount > 0 || lead.status == .pool
        firstAssignedAtMs = lead.assignedAtMs
        firstActivatedAtMs = lead.activatedAtMs
        firstActivationDelayMs = lead.activatedAtMs > 0 && lead.assignedAtMs > 0
            ? lead.activatedAtMs.subtractingClamped(lead.assignedAtMs) : 0
        firstActivatedWithinDeadline = lead.activatedAtMs > 0 && lead.activatedAtMs <= lead.activationDeadlineMs
        disqualifyReason = lead.disqualifyReason.rawValue
        disqualifyNote = lead.disqualifyNote
        customerId = lead.customerId
        opportunityId = lead.opportunityId
        convertedAtMs = lead.convertedAtMs
        createdBy = lead.createdBy
        createdAtMs = lead.createdAtMs
        updatedAtMs = lead.updatedAtMs
        closedAtMs = lead.closedAtMs
    }

    /// A new lead from validated intake facts, not yet routed (status POOL until routing decides).
    init(id: String, intake: ValidatedLead, createdBy: String, now: Int64) {
        self.id = id
        version = 1
        source = intake.source.rawValue
        sourceDetail = intake.sourceDetail
        scenario = intake.scenario
        contactName = intake.contactName
        phone = intake.phone
        email = intake.email
        jobTitle = intake.jobTitle
        company = intake.company
        region = intake.region
        industry = intake.industry
        background = intake.background
        initialNeed = intake.initialNeed
        attributes = Attributes.encode(intake.attributes)
        forceReason = intake.force ? intake.forceReason : ""
        forcedDuplicateOf = ""
        status = Crm_Leads_V1_LeadStatus.pool.rawValue
        ownerId = ""
        teamId = ""
        assignedAtMs = 0
        activationDeadlineMs = 0
        warnedAtMs = 0
        activatedAtMs = 0
        lastContactAtMs = 0
        contactAttempts = 0
        reclaimCount = 0
        everInPool = false
        firstAssignedAtMs = 0
        firstActivatedAtMs = 0
        firstActivationDelayMs = 0
        firstActivatedWithinDeadline = false
        disqualifyReason = 0
        disqualifyNote = ""
        customerId = ""
        opportunityId = ""
        convertedAtMs = 0
        self.createdBy = createdBy
        createdAtMs = now
        updatedAtMs = now
        closedAtMs = 0
    }
}
