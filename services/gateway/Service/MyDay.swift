import CRMProto
import GRDB
import RPCCore
import ServiceRuntime

/// MyDay: a rep's morning in one call — leads to activate with their R2 deadlines, due and overdue
/// next steps (R6), the focus list of key customers, customers going dark, big deals and deals at
/// risk (R7, R8), and tickets due (R6, R9). Sections are fetched in parallel; counts in the summary
/// cover every item even when a section is cut to limit_per_section.
extension GatewayHandler {
    func myDay(_ request: Crm_Gateway_V1_MyDayRequest, context: ServerContext) async throws -> Crm_Gateway_V1_MyDayResponse {
        let principal = try principal(context)
        let caller = try principal.requirePerson("MyDay")
        var problems = FieldErrors()
        let limit = Self.limit(request.limitPerSection, default: 50, field: "limit_per_section", &problems)
        if request.untilMs < 0 { problems.add("until_ms", "must not be negative") }
        try problems.throwIfAny()
        let userID = request.userId.isEmpty ? caller.userID : request.userId
        try await authorizeView(of: userID, by: principal)

        let now = clock.nowMs()
        let until = request.untilMs == 0 ? UTCCalendar.endOfDay(now) : request.untilMs
        let month = UTCCalendar.month(now)
        let fan = try Fanout(backends: backends, caller: caller, serviceToken: serviceToken, context: context)
        let options = fan.options

        async let leadsSection = fan.section(.leads, "leads_to_activate") {
            try await Fanout.allPages { token in
                var list = Crm_Leads_V1_ListDueRequest()
                list.ownerId = userID
                list.pageSize = 500
                list.pageToken = token
                let page = try await fan.leads.listDue(list, options: options)
                return (page.leads, page.nextPageToken)
            }
        }
        async let tasksSection = fan.section(.opportunities, "due_tasks") {
            try await Fanout.allPages { token in
                var list = Crm_Opportunities_V1_ListDueRequest()
                list.ownerId = userID
                list.untilMs = until
                list.pageSize = 500
                list.pageToken = token
                let page = try await fan.opportunities.listDue(list, options: options)
                return (page.tasks, page.nextPageToken)
            }
        }
        async let customersSection = fan.section(.customers, "focus_customers") {
            try await Fanout.allPages { token in
                var list = Crm_Customers_V1_ListFocusRequest()
                list.ownerId = userID
                list.pageSize = 500
                list.pageToken = token
                let page = try await fan.customers.listFocus(list, options: options)
                return (page.customers, page.nextPageToken)
            }
        }
        async let focusSection = fan.section(.opportunities, "focus_opportunities") {
            try await Fanout.allPages { token in
                var list = Crm_Opportunities_V1_ListFocusRequest()
                list.ownerId = userID
                list.month = month
                list.pageSize = 500
                list.pageToken = token
                let page = try await fan.opportunities.listFocus(list, options: options)
                return (page.opportunities, page.nextPageToken)
            }
        }
        async let riskSection = fan.section(.opportunities, "at_risk") {
            try await Fanout.allPages { token in
                var list = Crm_Opportunities_V1_ListAtRiskRequest()
                list.ownerId = userID
                list.pageSize = 500
                list.pageToken = token
                let page = try await fan.opportunities.listAtRisk(list, options: options)
                return (page.opportunities, page.nextPageToken)
            }
        }
        async let ticketsSection = fan.section(.tickets, "tickets_due") {
            try await Fanout.allPages { token in
                var list = Crm_Tickets_V1_ListDueRequest()
                list.ownerId = userID
                list.untilMs = until
                list.pageSize = 500
                list.pageToken = token
                let page = try await fan.tickets.listDue(list, options: options)
                return (page.tickets, page.nextPageToken)
            }
        }

        var errors = SourceErrors()
        let leads = errors.take(await leadsSection) ?? []
        let tasks = errors.take(await tasksSection) ?? []
        let focusCustomers = errors.take(await customersSection) ?? []
        let focusOpportunities = errors.take(await focusSection) ?? []
        let atRisk = errors.take(await riskSection) ?? []
        let tickets = errors.take(await ticketsSection) ?? []

        var summary = Crm_Gateway_V1_MyDaySummary()
        summary.leadsToActivate = Int32(leads.count)
        summary.leadsInWarning = Int32(leads.filter { $0.state == .warning }.count)
        summary.tasksOverdue = Int32(tasks.filter(\.overdue).count)
        summary.tasksDue = Int32(tasks.count) - summary.tasksOverdue
        summary.keyCustomers = Int32(focusCustomers.filter { $0.reasons.contains(.keyCustomer) }.count)
        summary.darkCustomers = Int32(focusCustomers.filter { $0.reasons.contains(.goingDark) }.count)
        summary.focusOpportunities = Int32(focusOpportunities.count)
        summary.atRiskOpportunities = Int32(atRisk.count)
        summary.ticketsDue = Int32(tickets.count)
        summary.ticketsBreached = Int32(tickets.filter { $0.state == .breached }.count)

        var response = Crm_Gateway_V1_MyDayResponse()
        response.userId = userID
        response.generatedAtMs = now
        response.leadsToActivate = Array(leads.prefix(limit))
        response.dueTasks = Array(tasks.prefix(limit))
        response.focusCustomers = Array(focusCustomers.prefix(limit))
        response.focusOpportunities = Array(focusOpportunities.prefix(limit))
        response.atRisk = Array(atRisk.prefix(limit))
        response.ticketsDue = Array(tickets.prefix(limit))
        response.summary = summary
        response.errors = errors.errors
        response.complete = errors.complete
        return response
    }

    /// Whose day a caller may see: their own; a manager a member of their team; an admin anyone's.
    /// Other users answer PERMISSION_DENIED; an unknown user NOT_FOUND (for those who may look).
    func authorizeView(of userID: String, by principal: Principal) async throws {
        if userID == principal.user.id { return }
        guard principal.isAdmin || principal.isManager else {
            throw RPCError(.permissionDenied, "\(principal.user.id) may only see their own day")
        }
        let target = try await store.read { db in try DirectoryRows.fetchUser(db, id: userID) }
        guard let target else { throw RPCError(.notFound, "user '\(userID)' not found") }
        if principal.isManager, target.teamId != principal.user.teamId || target.teamId.isEmpty {
            throw RPCError(.permissionDenied, "\(principal.user.id) manages team '\(principal.user.teamId)', not \(userID)'s")
        }
    }
}
