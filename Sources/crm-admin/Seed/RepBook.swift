import CRMProto
import Foundation
import RPCCore

/// One rep's book, created acting as the rep: leads in every state, customers with their key
/// person, deals at every stage with follow-ups, one won (onboarding tickets follow, R9), one lost
/// with its review (R10), and a service ticket.
struct RepBook {
    let seeder: DemoSeeder
    let rep: Crm_Gateway_V1_User
    let endpoint: Endpoint
    let index: Int

    var now: Int64 { seeder.now }
    /// Two hours from now, but still today (UTC), so it shows in today's MyDay even late in the evening.
    var laterToday: Int64 { min(now + 2 * 3_600_000, (now / 86_400_000 + 1) * 86_400_000 - 10 * 60_000) }
    var leads: Crm_Leads_V1_LeadServiceClient { Crm_Leads_V1_LeadServiceClient(channel: endpoint.channel) }
    var customers: Crm_Customers_V1_CustomerServiceClient { Crm_Customers_V1_CustomerServiceClient(channel: endpoint.channel) }
    var deals: Crm_Opportunities_V1_OpportunityServiceClient { Crm_Opportunities_V1_OpportunityServiceClient(channel: endpoint.channel) }
    var tickets: Crm_Tickets_V1_TicketServiceClient { Crm_Tickets_V1_TicketServiceClient(channel: endpoint.channel) }
    var options: CallOptions { endpoint.options() }
    var key: String { "demo-\(rep.email)" }

    func seed() async {
        await seeder.step("\(rep.email): leads") { try await seedLeads() }
        var accounts: [(customer: Crm_Customers_V1_Customer, contact: Crm_Customers_V1_Contact)] = []
        await seeder.step("\(rep.email): customers") { accounts = try await seedCustomers() }
        guard !accounts.isEmpty else { return }
        await seeder.step("\(rep.email): deals") { try await seedDeals(accounts) }
        await seeder.step("\(rep.email): service ticket") { try await seedTicket(accounts[0].customer) }
    }

    // MARK: Leads: assigned, activated, converted, disqualified

    private func seedLeads() async throws {
        for (n, seed) in DemoOrganisation.leads(forRep: index).enumerated() {
            var input = Crm_Leads_V1_LeadInput()
            input.source = seed.source
            input.sourceDetail = "Demo campaign \(n + 1)"
            input.scenario = seed.scenario
            input.contactName = seed.contact
            input.phone = "+49 151 5550 \(String(format: "%02d%02d", index, n))"
            input.email = "lead-\(index)-\(n)@\(DemoOrganisation.emailDomain)"
            input.company = seed.company
            input.region = rep.teamId
            input.background = "\(seed.company) runs its sales on spreadsheets"
            input.initialNeed = seed.need
            var create = Crm_Leads_V1_CreateLeadRequest()
            create.requestId = "\(key)-lead-\(n)"
            create.lead = input
            create.routing = .caller
            let created = try await leads.createLead(create, options: options)
            var lead = created.lead ?? Crm_Leads_V1_Lead()
            if created.replayed {
                // Seeded before: carry on from where the lead is now, not from the first answer.
                lead = try await leads.getLead(Crm_Leads_V1_GetLeadRequest(leadId: lead.id), options: options).lead ?? lead
            } else {
                seeder.report.count("leads")
            }
            guard n > 0 else { continue }  // the first stays assigned: to activate today (R2)
            if lead.status == .assigned {
                var contact = Crm_Leads_V1_RecordContactRequest()
                contact.leadId = lead.id
                contact.requestId = "\(key)-contact-\(n)"
                contact.channel = .phoneCall
                contact.outcome = n == 3 ? .notInterested : .interested
                contact.note = n == 3 ? "no budget this year" : "interested, wants a proposal"
                lead = try await leads.recordContact(contact, options: options).lead ?? lead
            }
            guard lead.status == .activated || lead.status == .converting else { continue }
            switch n {
            case 2:
                var convert = Crm_Leads_V1_ConvertLeadRequest()
                convert.leadId = lead.id
                convert.requestId = "\(key)-convert"
                convert.version = lead.version
                var customer = Crm_Leads_V1_ConversionCustomer()
                customer.name = seed.company
                customer.industry = "Services"
                customer.region = input.region
                convert.customer = customer
                var person = Crm_Leads_V1_ConversionKeyPerson()
                person.name = seed.contact
                person.email = input.email
                person.jobTitle = "Managing Director"
                convert.keyPerson = person
                var deal = Crm_Leads_V1_ConversionOpportunity()
                deal.title = "\(seed.company): \(seed.need)"
                deal.amountCents = 1_800_000
                deal.currency = "EUR"
                deal.need = seed.need
                deal.budgetCents = 2_000_000
                deal.expectedCloseDate = DemoSeeder.date(now + 45 * 86_400_000)
                deal.competitors = ["Spreadsheet status quo"]
                deal.nextStep = "Workshop to map the sales process"
                deal.nextStepDueMs = now + 2 * 86_400_000
                convert.opportunity = deal
                _ = try await leads.convertLead(convert, options: options)
            case 3:
                var disqualify = Crm_Leads_V1_DisqualifyLeadRequest()
                disqualify.leadId = lead.id
                disqualify.version = lead.version
                disqualify.reason = .noBudget
                disqualify.note = "no budget before next fiscal year"
                _ = try await leads.disqualifyLead(disqualify, options: options)
            default:
                break
            }
        }
    }

    // MARK: Customers with their key person; the first is a key customer (R7)

    private func seedCustomers() async throws -> [(customer: Crm_Customers_V1_Customer, contact: Crm_Customers_V1_Contact)] {
        var accounts: [(Crm_Customers_V1_Customer, Crm_Customers_V1_Contact)] = []
        for n in 0..<4 {
            let company = DemoOrganisation.companies[index * 4 + n]
            var input = Crm_Customers_V1_CustomerInput()
            input.name = company.name
            input.industry = company.industry
            input.region = company.region
            input.size = company.size
            input.tags = ["demo"]
            input.source = .tradeShow
            var contact = Crm_Customers_V1_ContactInput()
            contact.name = company.contact
            contact.jobTitle = company.title
            contact.role = .decisionMaker
            contact.email = "\(company.contact.lowercased().filter(\.isLetter))@\(DemoOrganisation.emailDomain)"
            contact.keyPerson = true
            var request = Crm_Customers_V1_CreateCustomerRequest()
            request.requestId = "\(key)-customer-\(n)"
            request.customer = input
            request.contacts = [contact]
            let created = try await customers.createCustomer(request, options: options)
            guard var customer = created.customer, let keyPerson = created.contacts.first else { continue }
            if created.replayed {
                customer = try await customers.getCustomer(Crm_Customers_V1_GetCustomerRequest(customerId: customer.id),
                                                           options: options).customer ?? customer
            } else {
                seeder.report.count("customers")
            }
            if n == 0, !customer.key {
                var mark = Crm_Customers_V1_MarkKeyRequest()
                mark.customerId = customer.id
                mark.version = customer.version
                mark.key = true
                mark.reason = "largest account of the territory"
                customer = try await customers.markKey(mark, options: options).customer ?? customer
            }
            accounts.append((customer, keyPerson))
        }
        return accounts
    }

    // MARK: Deals at every stage, one won, one lost

    private func seedDeals(_ accounts: [(customer: Crm_Customers_V1_Customer, contact: Crm_Customers_V1_Contact)]) async throws {
        let stages = DemoOrganisation.openStages + [.contract, .quote]  // the last two close: won, lost
        for (n, stage) in stages.enumerated() {
            let account = accounts[n % accounts.count]
            let company = DemoOrganisation.companies[index * 4 + n % accounts.count]
            var request = Crm_Opportunities_V1_CreateOpportunityRequest()
            request.requestId = "\(key)-deal-\(n)"
            request.customerId = account.customer.id
            request.title = "\(company.name): \(["pilot", "rollout", "extension", "phase 2", "framework", "renewal", "upgrade", "tender"][n])"
            request.amountCents = Int64(1_500_000 + 750_000 * n + 250_000 * index)
            request.currency = "EUR"
            request.keyPersonContactId = account.contact.id
            request.need = company.need
            request.budgetCents = request.amountCents + 500_000
            request.expectedCloseDate = DemoSeeder.date(now + Int64(20 + 10 * n) * 86_400_000)
            request.competitors = n % 3 == 0 ? ["Globex"] : ["Initech", "Globex"]
            request.nextStep = ["Call to qualify the need", "Demo for the users", "Solution workshop", "Walk through the quote",
                                "Negotiate payment terms", "Chase the signature", "Final offer", "Pricing review"][n]
            // Some next steps are due today (MyDay, R6), the rest in the coming days.
            request.nextStepDueMs = n % 2 == 0 ? laterToday : now + Int64(n) * 86_400_000
            request.initialStage = stage
            request.facts = Self.facts(upTo: stage, amount: request.amountCents, now: now)
            let created = try await deals.createOpportunity(request, options: options)
            guard var deal = created.opportunity else { continue }
            if created.replayed {
                deal = try await deals.getOpportunity(Crm_Opportunities_V1_GetOpportunityRequest(opportunityId: deal.id),
                                                      options: options).opportunity ?? deal
            } else {
                seeder.report.count("deals")
            }
            if n % 2 == 1, deal.status == .open {
                var followUp = Crm_Opportunities_V1_RecordFollowUpRequest()
                followUp.requestId = "\(key)-follow-up-\(n)"
                followUp.opportunityId = deal.id
                followUp.type = n % 4 == 1 ? .visit : .call
                followUp.inPerson = n % 4 == 1
                followUp.conclusion = "\(company.contact) confirmed the scope and the budget owner"
                followUp.nextStep = "Send the updated proposal"
                followUp.nextStepDueMs = now + Int64(n + 1) * 86_400_000
                followUp.contactIds = [account.contact.id]
                followUp.keyPersonConfirmed = true
                if try await !deals.recordFollowUp(followUp, options: options).replayed { seeder.report.count("follow-ups") }
                deal = try await deals.getOpportunity(Crm_Opportunities_V1_GetOpportunityRequest(opportunityId: deal.id),
                                                      options: options).opportunity ?? deal
            }
            guard deal.status == .open else { continue }
            if n == stages.count - 2 {
                var won = Crm_Opportunities_V1_MarkWonRequest()
                won.opportunityId = deal.id
                won.version = deal.version
                won.signedAmountCents = deal.amountCents
                won.signedDate = DemoSeeder.date(now)
                won.note = "signed after the final offer"
                _ = try await deals.markWon(won, options: options)
                seeder.report.count("deals won")
            } else if n == stages.count - 1 {
                var review = Crm_Opportunities_V1_LossReview()
                review.lostTo = .competitor
                review.competitor = "Globex"
                review.reason = .price
                review.reasonDetail = "Globex came in 20% cheaper"
                review.wentWrongStage = .quote
                review.followUpStrategy = "Stay in touch; revisit at their contract renewal"
                review.revisitDate = DemoSeeder.date(now + 180 * 86_400_000)
                var lost = Crm_Opportunities_V1_MarkLostRequest()
                lost.opportunityId = deal.id
                lost.version = deal.version
                lost.review = review
                _ = try await deals.markLost(lost, options: options)
                seeder.report.count("deals lost")
            }
        }
    }

    /// The R4 facts of every stage up to `stage`.
    static func facts(upTo stage: Crm_Opportunities_V1_Stage, amount: Int64, now: Int64) -> Crm_Opportunities_V1_StageFacts {
        var facts = Crm_Opportunities_V1_StageFacts()
        let rank = stage.rawValue
        if rank >= Crm_Opportunities_V1_Stage.needsConfirmed.rawValue { facts.needsSummary = "Needs confirmed with the key person in a workshop" }
        if rank >= Crm_Opportunities_V1_Stage.solutionFit.rawValue { facts.solutionSummary = "Standard package plus two integrations" }
        if rank >= Crm_Opportunities_V1_Stage.quote.rawValue {
            facts.quoteAmountCents = amount
            facts.quoteDate = DemoSeeder.date(now - 3 * 86_400_000)
        }
        if rank >= Crm_Opportunities_V1_Stage.negotiation.rawValue {
            var points = Crm_Opportunities_V1_StringList()
            points.values = ["payment in two instalments", "training included"]
            facts.negotiationPoints = points
        }
        if rank >= Crm_Opportunities_V1_Stage.contract.rawValue { facts.contractDocumentRef = "DMS-\(amount)" }
        return facts
    }

    // MARK: A service request ticket

    private func seedTicket(_ customer: Crm_Customers_V1_Customer) async throws {
        var request = Crm_Tickets_V1_CreateTicketRequest()
        request.requestId = "\(key)-ticket"
        request.kind = .serviceRequest
        request.customerId = customer.id
        request.title = "Receipt printer drops the connection"
        request.details = "Branch 3 reports the printer disconnects every afternoon."
        request.priority = .high
        request.dueMs = now + 86_400_000
        if try await !tickets.createTicket(request, options: options).replayed { seeder.report.count("service tickets") }
    }
}
