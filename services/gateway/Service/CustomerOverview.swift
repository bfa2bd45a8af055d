import CRMProto
import RPCCore
import ServiceRuntime

/// CustomerOverview: one customer's whole picture in one call (line 2, R8, R9, R11), fanned out in
/// parallel to crm-customers, crm-opportunities, crm-tickets, then crm-forecast for probabilities.
/// Each backend applies the caller's visibility; an invisible or missing customer is NOT_FOUND.
extension GatewayHandler {
    func customerOverview(_ request: Crm_Gateway_V1_CustomerOverviewRequest, context: ServerContext) async throws
        -> Crm_Gateway_V1_CustomerOverviewResponse {
        let caller = try principal(context).requirePerson("CustomerOverview")
        var problems = FieldErrors()
        let customerID = problems.require("customer_id", request.customerId)
        let timelineLimit = Self.limit(request.timelineLimit, default: 20, field: "timeline_limit", &problems)
        let closedLimit = Self.limit(request.closedOpportunityLimit, default: 10, field: "closed_opportunity_limit", &problems)
        let contactLimit = Self.limit(request.contactLimit, default: 50, field: "contact_limit", &problems)
        try problems.throwIfAny()

        let fan = try Fanout(backends: backends, caller: caller, serviceToken: serviceToken, context: context)
        let options = fan.options
        async let customerSection = fan.section(.customers, "customer") {
            try await fan.customers.getCustomer(Crm_Customers_V1_GetCustomerRequest(customerId: customerID), options: options)
        }
        async let contactsSection = fan.section(.customers, "contacts") {
            var list = Crm_Customers_V1_ListContactsRequest()
            list.customerId = customerID
            list.pageSize = Int32(contactLimit)
            return try await fan.customers.listContacts(list, options: options).contacts
        }
        async let timelineSection = fan.section(.customers, "timeline") {
            var list = Crm_Customers_V1_ListTimelineRequest()
            list.customerId = customerID
            list.pageSize = Int32(timelineLimit)
            return try await fan.customers.listTimeline(list, options: options).entries
        }
        async let openSection = fan.section(.opportunities, "open_opportunities") {
            try await Fanout.allPages(maxItems: 500) { token in
                var list = Crm_Opportunities_V1_ListOpportunitiesRequest()
                list.customerId = customerID
                list.statuses = [.open]
                list.pageSize = 500
                list.pageToken = token
                let page = try await fan.opportunities.listOpportunities(list, options: options)
                return (page.opportunities, page.nextPageToken)
            }
        }
        async let closedSection = fan.section(.opportunities, "closed_opportunities") {
            var list = Crm_Opportunities_V1_ListOpportunitiesRequest()
            list.customerId = customerID
            list.statuses = [.won, .lost]
            list.sort = .updatedAt
            list.descending = true
            list.pageSize = Int32(closedLimit)
            return try await fan.opportunities.listOpportunities(list, options: options).opportunities
        }
        async let ticketsSection = fan.section(.tickets, "open_tickets") {
            try await Fanout.allPages(maxItems: 500) { token in
                var list = Crm_Tickets_V1_ListTicketsRequest()
                list.customerId = customerID
                list.statuses = [.open, .inProgress, .waitingOnCustomer]
                list.pageSize = 500
                list.pageToken = token
                let page = try await fan.tickets.listTickets(list, options: options)
                return (page.tickets, page.nextPageToken)
            }
        }

        let customer = await customerSection
        if let failure = customer.failure, failure.status.code == .notFound {
            throw RPCError(.notFound, "customer '\(customerID)' not found")
        }
        var errors = SourceErrors()
        var response = Crm_Gateway_V1_CustomerOverviewResponse()
        if let found = errors.take(customer) {
            response.customer = found.customer
            response.nextAction = found.nextAction
            response.allowedTransitions = found.allowedTransitions
        }
        response.contacts = errors.take(await contactsSection) ?? []
        response.timeline = errors.take(await timelineSection) ?? []
        let open = errors.take(await openSection) ?? []
        response.closedOpportunities = errors.take(await closedSection) ?? []
        response.openTickets = errors.take(await ticketsSection) ?? []

        // Probabilities (R11) need the open opportunities' ids, so they come second.
        var probabilities: [String: Crm_Forecast_V1_ProbabilityExplanation] = [:]
        if !open.isEmpty {
            let ids = open.map(\.id)
            let explained = await fan.section(.forecast, "open_opportunities.probability") {
                try await fan.forecast.getProbability(Crm_Forecast_V1_GetProbabilityRequest(opportunityIds: ids),
                                                      options: options).results
            }
            for explanation in errors.take(explained) ?? [] { probabilities[explanation.opportunityId] = explanation }
        }
        response.openOpportunities = open.map {
            Crm_Gateway_V1_OpportunityWithProbability(opportunity: $0, probability: probabilities[$0.id])
        }
        response.errors = errors.errors
        response.complete = errors.complete
        response.generatedAtMs = clock.nowMs()
        return response
    }

    /// A per-section limit: 0 means the default, negative is refused, above 500 is clamped.
    static func limit(_ requested: Int32, default defaultValue: Int, field: String, _ problems: inout FieldErrors) -> Int {
        if requested < 0 { problems.add(field, "must not be negative"); return defaultValue }
        return requested == 0 ? defaultValue : min(Int(requested), 500)
    }
}
