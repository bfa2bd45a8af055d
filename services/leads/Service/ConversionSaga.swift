import CRMProto
import RPCCore
import ServiceRuntime

/// A peer call of the saga failed. Definitive refusals (bad facts, duplicates, permissions) pass
/// through with their status; anything else means the peer is down or unsure and answers UNAVAILABLE.
struct PeerFailure: Error, Sendable {
    var service: String
    var step: String
    var error: RPCError

    static let definitiveCodes: Set<StatusCode> = [
        .invalidArgument, .alreadyExists, .failedPrecondition, .notFound, .permissionDenied, .outOfRange,
        .unauthenticated,
    ]

    var definitive: Bool { Self.definitiveCodes.contains(error.code) }

    func rpcError(leadID: String, leftConverting: Bool) -> RPCError {
        let state = leftConverting
            ? "lead \(leadID) stays CONVERTING; call ConvertLead again to finish"
            : "lead \(leadID) is unchanged"
        if definitive {
            return RPCError(error.code, "\(service) refused the \(step): \(error.message) (\(state))")
        }
        if error.code == .aborted {
            return RPCError(.aborted, "\(service) \(step): \(error.message) (\(state))")
        }
        return RPCError(.unavailable, "\(service) unavailable for the \(step) (\(error.code): \(error.message)); \(state)")
    }
}

/// The peer steps of ConvertLead. Keys are derived from the lead id, and crm-customers /
/// crm-opportunities also de-duplicate creates by lead_id, so a step repeated after a lost answer
/// returns the record created the first time.
struct ConversionSaga: Sendable {
    let peers: Peers
    let caller: Caller
    let lead: LeadRow
    let plan: ConversionPlan

    private var options: CallOptions { peers.options(for: caller, timeout: .seconds(5)) }
    private var customers: Crm_Customers_V1_CustomerServiceClient {
        Crm_Customers_V1_CustomerServiceClient(channel: peers.channel("customers"))
    }
    private var opportunities: Crm_Opportunities_V1_OpportunityServiceClient {
        Crm_Opportunities_V1_OpportunityServiceClient(channel: peers.channel("opportunities"))
    }

    func key(_ step: String) -> String { "lead-convert:\(lead.id):\(step)" }

    private func call<T>(_ service: String, _ step: String, _ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as RPCError {
            throw PeerFailure(service: service, step: step, error: error)
        } catch is CancellationError {
            throw PeerFailure(service: service, step: step, error: RPCError(.cancelled, "cancelled"))
        } catch {
            throw PeerFailure(service: service, step: step, error: RPCError(.unavailable, "\(error)"))
        }
    }

    /// Creates the customer (with the key person as its first contact) or links the existing one.
    func customerStep(_ progress: inout ConversionProgress,
                      save: (ConversionProgress) async throws -> Void) async throws -> Crm_Leads_V1_ConversionStepResult {
        guard progress.customerID.isEmpty else {
            return Crm_Leads_V1_ConversionStepResult(step: .customer, state: .alreadyDone, recordId: progress.customerID)
        }
        if !plan.existingCustomerID.isEmpty {
            let response = try await call("crm-customers", "customer link") {
                try await customers.getCustomer(Crm_Customers_V1_GetCustomerRequest(customerId: plan.existingCustomerID),
                                                options: options)
            }
            progress.customerID = response.customer?.id ?? plan.existingCustomerID
            progress.customerState = .linked
        } else {
            var input = Crm_Customers_V1_CustomerInput()
            input.name = plan.customerName
            input.industry = plan.industry
            input.region = plan.region
            input.tags = plan.tags
            input.source = lead.leadSource
            input.sourceDetail = lead.sourceDetail
            var request = Crm_Customers_V1_CreateCustomerRequest()
            request.requestId = key("customer")
            request.leadId = lead.id
            request.customer = input
            request.contacts = [keyContactInput]
            request.ownerId = lead.ownerId
            request.force = plan.force
            request.forceReason = plan.forceReason
            let response = try await call("crm-customers", "customer creation") {
                try await customers.createCustomer(request, options: options)
            }
            guard let customer = response.customer, !customer.id.isEmpty else {
                throw PeerFailure(service: "crm-customers", step: "customer creation",
                                  error: RPCError(.unavailable, "answered without a customer id"))
            }
            progress.customerID = customer.id
            progress.customerState = .done
            if let contact = response.contacts.first(where: \.keyPerson) ?? response.contacts.first {
                progress.keyContactID = contact.id
                progress.keyContactState = .done
            }
        }
        try await save(progress)
        return Crm_Leads_V1_ConversionStepResult(step: .customer, state: progress.customerState, recordId: progress.customerID)
    }

    /// The key person (R3): created with a new customer, added to an existing one, or an existing contact.
    func keyContactStep(_ progress: inout ConversionProgress, createdWithCustomer: Bool,
                        save: (ConversionProgress) async throws -> Void) async throws -> Crm_Leads_V1_ConversionStepResult {
        if !progress.keyContactID.isEmpty {
            let state: Crm_Leads_V1_StepState = createdWithCustomer ? .done : .alreadyDone
            return Crm_Leads_V1_ConversionStepResult(step: .keyContact, state: state, recordId: progress.keyContactID)
        }
        if !plan.keyContactID.isEmpty {
            let response = try await call("crm-customers", "key person lookup") {
                try await customers.getContact(Crm_Customers_V1_GetContactRequest(contactId: plan.keyContactID),
                                               options: options)
            }
            guard let contact = response.contact, contact.customerId == progress.customerID else {
                throw PeerFailure(service: "crm-customers", step: "key person lookup", error: RPCError(
                    .invalidArgument, "key_person.contact_id: \(plan.keyContactID) is not a contact of customer \(progress.customerID)"))
            }
            progress.keyContactID = contact.id
            progress.keyContactState = .linked
        } else {
            let customerID = progress.customerID
            let response = try await call("crm-customers", "key person creation") {
                try await customers.addContact(Crm_Customers_V1_AddContactRequest(
                    requestId: key("key-contact"), customerId: customerID, contact: keyContactInput), options: options)
            }
            guard let contact = response.contact, !contact.id.isEmpty else {
                throw PeerFailure(service: "crm-customers", step: "key person creation",
                                  error: RPCError(.unavailable, "answered without a contact id"))
            }
            progress.keyContactID = contact.id
            progress.keyContactState = .done
        }
        try await save(progress)
        return Crm_Leads_V1_ConversionStepResult(step: .keyContact, state: progress.keyContactState, recordId: progress.keyContactID)
    }

    /// The opportunity with the R3 facts and its first next step (line 3).
    func opportunityStep(_ progress: inout ConversionProgress,
                         save: (ConversionProgress) async throws -> Void) async throws -> Crm_Leads_V1_ConversionStepResult {
        guard progress.opportunityID.isEmpty else {
            return Crm_Leads_V1_ConversionStepResult(step: .opportunity, state: .alreadyDone, recordId: progress.opportunityID)
        }
        var request = Crm_Opportunities_V1_CreateOpportunityRequest()
        request.requestId = key("opportunity")
        request.leadId = lead.id
        request.customerId = progress.customerID
        request.title = plan.title
        request.amountCents = plan.amountCents
        request.currency = plan.currency
        request.keyPersonContactId = progress.keyContactID
        request.need = plan.need
        request.budgetCents = plan.budgetCents
        request.expectedCloseDate = plan.expectedCloseDate
        request.competitors = plan.competitors
        request.noCompetitors = plan.noCompetitors
        request.ownerId = plan.ownerID
        request.source = lead.leadSource
        request.sourceDetail = lead.sourceDetail
        request.nextStep = plan.nextStep
        request.nextStepDueMs = plan.nextStepDueMs
        let response = try await call("crm-opportunities", "opportunity creation") {
            try await opportunities.createOpportunity(request, options: options)
        }
        guard let opportunity = response.opportunity, !opportunity.id.isEmpty else {
            throw PeerFailure(service: "crm-opportunities", step: "opportunity creation",
                              error: RPCError(.unavailable, "answered without an opportunity id"))
        }
        progress.opportunityID = opportunity.id
        progress.opportunityState = .done
        try await save(progress)
        return Crm_Leads_V1_ConversionStepResult(step: .opportunity, state: .done, recordId: opportunity.id)
    }

    private var keyContactInput: Crm_Customers_V1_ContactInput {
        var contact = Crm_Customers_V1_ContactInput()
        contact.name = plan.keyName
        contact.jobTitle = plan.keyJobTitle
        contact.role = .decisionMaker
        contact.phone = plan.keyPhone
        contact.email = plan.keyEmail
        contact.keyPerson = true
        return contact
    }
}
