import ArgumentParser
import CRMProto
import Foundation

/// `crm-admin my-day`: a rep's day as the gateway combines it (R2, R6, R7, R8, R9).
struct MyDayCommand: AdminCommand {
    static let configuration = CommandConfiguration(
        commandName: "my-day",
        abstract: "Show a rep's day through the gateway: leads to activate (R2), due next steps (R6), focus (R7), risk (R8), tickets due.")

    @Option(help: "User id or email (default: the token's own user).") var user: String?
    @Option(name: .customLong("limit"), help: "Max items per section.") var limit: Int32 = 10
    @Flag(help: "Print the whole MyDayResponse as proto3 JSON.") var json = false
    @OptionGroup var gateway: GatewayAccess

    mutating func execute() async throws -> Int32 {
        let endpoint = try gateway.endpoint()
        defer { Task { [endpoint] in await endpoint.close() } }
        let directory = DirectoryClient(endpoint: endpoint)
        let userID = try await rpc("finding the user") { try await optional(user) { try await directory.user($0).id } }
        let day = try await rpc("MyDay") {
            try await directory.client.myDay(Crm_Gateway_V1_MyDayRequest(userId: userID, limitPerSection: limit), options: endpoint.options())
        }
        if json {
            Output.line(try Contracts.text(fromWire: day.serializedBytes(), messageType: "crm.gateway.v1.MyDayResponse"))
            return AdminExit.ok
        }
        render(day)
        return day.complete ? AdminExit.ok : AdminExit.problems
    }

    private func render(_ day: Crm_Gateway_V1_MyDayResponse) {
        let summary = day.summary ?? Crm_Gateway_V1_MyDaySummary()
        Output.line("My day of \(day.userId) at \(Time.text(day.generatedAtMs))")
        Output.line("")
        section("Leads to activate (R2)", count: Int(summary.leadsToActivate), day.leadsToActivate.map { due in
            let lead = due.lead ?? Crm_Leads_V1_Lead()
            return "\(lead.contactName) (\(lead.company)) — deadline \(Time.text(due.deadlineMs)), \(due.state.protoName.replacingOccurrences(of: "ACTIVATION_STATE_", with: "").lowercased())"
        })
        section("Next steps due (R6)", count: Int(summary.tasksDue + summary.tasksOverdue), day.dueTasks.map { due in
            let task = due.task ?? Crm_Opportunities_V1_TaskItem()
            return "\(due.overdue ? "OVERDUE " : "")\(task.title) — \(due.opportunityTitle.isEmpty ? due.customerName : due.opportunityTitle), due \(Time.text(task.dueMs))"
        })
        section("Key customers and customers going dark (R7)", count: Int(summary.keyCustomers + summary.darkCustomers), day.focusCustomers.map { focus in
            let customer = focus.customer ?? Crm_Customers_V1_Customer()
            return "\(customer.name) — \(focus.daysSinceActivity) days since last activity"
        })
        section("Deals to push (R7)", count: Int(summary.focusOpportunities), day.focusOpportunities.map { focus in
            let deal = focus.opportunity ?? Crm_Opportunities_V1_Opportunity()
            return "\(deal.title) — \(Money.text(deal.amountCents, deal.currency)), \(deal.stage.protoName.replacingOccurrences(of: "STAGE_", with: "").lowercased())"
        })
        section("Deals at risk (R8)", count: Int(summary.atRiskOpportunities), day.atRisk.map { deal in
            "\(deal.title) — \(Money.text(deal.amountCents, deal.currency))"
        })
        section("Tickets due (R6, R9)", count: Int(summary.ticketsDue + summary.ticketsBreached), day.ticketsDue.map { due in
            let ticket = due.ticket ?? Crm_Tickets_V1_Ticket()
            return "\(ticket.title) — due \(Time.text(due.dueAtMs))"
        })
        for error in day.errors {
            Output.line("! \(error.section) unavailable: \(error.codeName) \(error.message)")
        }
    }

    private func section(_ title: String, count: Int, _ items: [String]) {
        Output.line("\(title): \(count)")
        for item in items { Output.line("  - \(item)") }
    }
}

enum Money {
    static func text(_ cents: Int64, _ currency: String) -> String {
        String(format: "%.2f %@", Double(cents) / 100, currency)
    }
}
