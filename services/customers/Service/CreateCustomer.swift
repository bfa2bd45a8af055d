import CRMProto
import GRDB
import RPCCore
import ServiceRuntime

extension CustomerHandler {
    /// CreateCustomer: validated input, duplicate guard (ALREADY_EXISTS unless forced with a reason),
    /// idempotent by request_id and, for a lead conversion, by lead_id.
    func createCustomer(_ request: Crm_Customers_V1_CreateCustomerRequest, context: ServerContext) async throws
        -> Crm_Customers_V1_CreateCustomerResponse {
        let caller = try Access.caller(context)
        var errors = FieldErrors()
        let requestID = errors.identifier("request_id", request.requestId, required: false)
        let leadID = errors.identifier("lead_id", request.leadId, required: false)
        let profile = CustomerProfile(request.customer ?? .init(), field: "customer.", errors: &errors)
        if request.contacts.count > Limits.contactsPerCreate {
            errors.add("contacts", "at most \(Limits.contactsPerCreate) per create, got \(request.contacts.count)")
        }
        let contacts = request.contacts.enumerated().map { i, input in
            ContactProfile(input, field: "contacts[\(i)].", errors: &errors)
        }
        let ownerField = errors.identifier("owner_id", request.ownerId, required: false)
        if ownerField.isEmpty, caller.userID == Access.systemUser {
            errors.add("owner_id", "required when the call carries no user")
        }
        let owner = ownerField.isEmpty ? caller.userID : ownerField
        var collaboratorList: [String] = []
        if request.collaboratorIds.count > Limits.collaborators {
            errors.add("collaborator_ids", "at most \(Limits.collaborators), got \(request.collaboratorIds.count)")
        }
        for (i, id) in request.collaboratorIds.enumerated() {
            let user = errors.identifier("collaborator_ids[\(i)]", id)
            if !user.isEmpty, user != owner, !collaboratorList.contains(user) { collaboratorList.append(user) }
        }
        let collaborators = collaboratorList
        let forceReason = request.force
            ? errors.text("force_reason", request.forceReason, max: Limits.reason, required: true) : ""
        try errors.throwIfAny()

        let team = try await teamOfOwner(owner, field: "owner_id", caller: caller, fallbackTeam: caller.team)
        let now = clock.nowMs()
        let response = try await write { db -> Crm_Customers_V1_CreateCustomerResponse in
            if let existing = try StoredCustomer.load(db, leadID: leadID) {
                return Crm_Customers_V1_CreateCustomerResponse(
                    customer: existing.customer, contacts: try Contact.all(db, customerID: existing.customer.id), replayed: true)
            }
            let result = try Idempotency.run(
                db, scope: "CreateCustomer", requestID: requestID, request: request, nowMs: now
            ) { () throws -> Crm_Customers_V1_CreateCustomerResponse in
                let matches = try DuplicateGuard.find(
                    db, name: profile.name, phones: [profile.phone] + contacts.map(\.phone),
                    emails: [profile.email] + contacts.map(\.email))
                if !matches.isEmpty, !request.force { throw DuplicateGuard.refusal(matches) }
                return try insertCustomer(db, profile: profile, contacts: contacts, owner: owner, team: team,
                                          collaborators: collaborators, leadID: leadID, caller: caller, nowMs: now,
                                          overridden: matches, forceReason: forceReason, requestID: requestID)
            }
            var response = result.response
            response.replayed = result.replayed
            return response
        }
        wakeRelay()
        return response
    }

    private func insertCustomer(_ db: Database, profile: CustomerProfile, contacts: [ContactProfile], owner: String,
                                team: String, collaborators: [String], leadID: String, caller: Caller, nowMs: Int64,
                                overridden: [DuplicateMatch], forceReason: String, requestID: String) throws
        -> Crm_Customers_V1_CreateCustomerResponse {
        var c = Customer()
        c.id = RecordID.make("cus", nowMs: nowMs)
        c.version = 1
        c.name = profile.name
        c.industry = profile.industry
        c.region = profile.region
        c.size = profile.size
        c.tags = profile.tags
        c.website = profile.website
        c.address = profile.address
        c.notes = profile.notes
        c.phone = profile.phone
        c.email = profile.email
        c.grade = profile.grade
        c.source = profile.source
        c.sourceDetail = profile.sourceDetail
        c.leadId = leadID
        c.lifecycleStatus = profile.initialStatus
        c.lifecycleChangedAtMs = nowMs
        c.ownerId = owner
        c.teamId = team
        c.collaboratorIds = collaborators
        c.lastActivityAtMs = nowMs
        c.createdBy = caller.userID
        c.createdAtMs = nowMs
        c.updatedAtMs = nowMs
        let stored = StoredCustomer(customer: c, gradeBeforeKey: profile.grade)
        try stored.insert(db)

        try Audit.recordTransition(db, customerID: c.id, LifecycleTransition(
            fromStatus: .unspecified, toStatus: c.lifecycleStatus, actorId: caller.userID, atMs: nowMs,
            reason: "created", trigger: .manual))
        var summary = "Created by \(caller.userID) as \(Lifecycle.name(c.lifecycleStatus)), owner \(owner)"
        if !overridden.isEmpty {
            let ids = Set(overridden.map(\.customerId)).sorted().joined(separator: ", ")
            summary += "; duplicate guard overridden (\(ids)): \(forceReason)"
        }
        var created = Audit.entry(.created, customerID: c.id, actor: caller.userID, atMs: nowMs, summary: summary)
        created.leadId = leadID
        created.toStatus = c.lifecycleStatus
        created.toOwnerId = owner
        try Audit.record(db, created)

        var savedContacts: [Contact] = []
        for profile in contacts {
            let contact = profile.contact(id: RecordID.make("ctc", nowMs: nowMs), customerID: c.id, nowMs: nowMs)
            try contact.insert(db)
            var entry = Audit.entry(.contactAdded, customerID: c.id, actor: caller.userID, atMs: nowMs,
                                    summary: ContactText.summary(contact))
            entry.contactId = contact.id
            try Audit.record(db, entry)
            savedContacts.append(contact)
        }
        try OutboundEvents.created(db, customer: c, actor: caller, requestID: requestID, nowMs: nowMs)
        return Crm_Customers_V1_CreateCustomerResponse(customer: c, contacts: savedContacts, replayed: false,
                                                       overriddenDuplicates: overridden)
    }
}
