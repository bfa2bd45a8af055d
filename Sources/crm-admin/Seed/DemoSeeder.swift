import CRMProto
import Foundation
import RPCCore

/// Runs the demo organisation's RPCs through the gateway: the directory as the admin, then each
/// rep's book acting as that rep. Request ids are derived from the demo data, so a second run
/// replays creates instead of duplicating; steps that fail are reported and the rest go on.
final class DemoSeeder: @unchecked Sendable {  // used from one task at a time
    let gateway: GatewayAccess
    let admin: Endpoint
    var report = SeedReport()
    /// The demo's "now": when its admin user was first created. A second run computes the same dates
    /// and due times, so its creates are exact replays of the first run's.
    var now = Int64(Date().timeIntervalSince1970 * 1000)
    var users: [String: Crm_Gateway_V1_User] = [:]
    var tokens: [String: String] = [:]

    init(gateway: GatewayAccess, admin: Endpoint) {
        self.gateway = gateway
        self.admin = admin
    }

    var directory: Crm_Gateway_V1_GatewayServiceClient { Crm_Gateway_V1_GatewayServiceClient(channel: admin.channel) }

    func run() async throws -> SeedReport {
        // Nothing goes without the directory: its failures end the run.
        try await rpc("creating the demo directory") { try await seedDirectory() }
        if let anchor = users[DemoOrganisation.admin.key]?.createdAtMs, anchor > 0 { now = anchor }
        for (index, rep) in DemoOrganisation.reps.enumerated() {
            guard let token = tokens[rep.key], let user = users[rep.key] else { continue }
            let endpoint = try gateway.endpoint(token: token)
            defer { Task { [endpoint] in await endpoint.close() } }
            let book = RepBook(seeder: self, rep: user, endpoint: endpoint, index: index)
            await book.seed()
        }
        await step("pool leads") { try await seedPoolLeads() }
        await step("targets of this month") { try await seedTargets() }
        summarise()
        return report
    }

    /// Runs one step; a failure is recorded with its status and the seed goes on.
    func step(_ label: String, _ body: () async throws -> Void) async {
        do {
            try await body()
        } catch let error as RPCError {
            report.failures.append("\(label): \(error.summary)")
        } catch {
            report.failures.append("\(label): \(error)")
        }
    }

    // MARK: Directory

    private func seedDirectory() async throws {
        var teamIDs: [String: String] = [:]
        for name in DemoOrganisation.teams {
            let team = try await directory.createTeam(
                Crm_Gateway_V1_CreateTeamRequest(requestId: "demo-team-\(name)", name: name), options: admin.options())
            teamIDs[name] = team.team?.id ?? ""
            if !team.replayed { report.count("teams") }
        }
        let people = [DemoOrganisation.admin] + DemoOrganisation.managers + DemoOrganisation.reps
        for person in people {
            var request = Crm_Gateway_V1_CreateUserRequest()
            request.requestId = "demo-user-\(person.key)"
            request.name = person.name
            request.email = person.email
            request.role = person.role
            request.teamId = person.team.flatMap { teamIDs[$0] } ?? ""
            if person.role == .rep, let manager = DemoOrganisation.managers.first(where: { $0.team == person.team }) {
                request.managerId = users[manager.key]?.id ?? ""
                request.leadCapacity = 25
            }
            let response = try await directory.createUser(request, options: admin.options())
            guard let user = response.user else { continue }
            users[person.key] = user
            if !response.replayed { report.count("users") }
            let issued = try await directory.issueToken(
                Crm_Gateway_V1_IssueTokenRequest(requestId: UUID().uuidString, userId: user.id, name: "crm-admin seed --demo"),
                options: admin.options())
            tokens[person.key] = issued.token
        }
    }

    // MARK: Leads in the pool

    private func seedPoolLeads() async throws {
        let leads = Crm_Leads_V1_LeadServiceClient(channel: admin.channel)
        let pool: [(String, String, Crm_Leads_V1_LeadSource)] = [
            ("Greta Pool", "Pool Kontor GmbH", .website), ("Henrik Pool", "Pool Werke AG", .tradeShow),
            ("Ines Pool", "Pool & Partner", .advertising),
        ]
        for (n, (name, company, source)) in pool.enumerated() {
            var input = Crm_Leads_V1_LeadInput()
            input.source = source
            input.scenario = "signed up at the spring webinar"
            input.contactName = name
            input.email = "pool\(n + 1)@\(DemoOrganisation.emailDomain)"
            input.company = company
            input.region = n % 2 == 0 ? "DE-North" : "DE-South"
            input.background = "mid-sized company, no CRM yet"
            input.initialNeed = "wants to see a demo"
            var request = Crm_Leads_V1_CreateLeadRequest()
            request.requestId = "demo-pool-lead-\(n)"
            request.lead = input
            request.routing = .pool
            if try await !leads.createLead(request, options: admin.options()).replayed { report.count("leads in the pool") }
        }
    }

    // MARK: Targets

    /// This month's targets: each rep's from their book, teams and company as the sums (the
    /// breakdown must add up).
    private func seedTargets() async throws {
        let forecast = Crm_Forecast_V1_ForecastServiceClient(channel: admin.channel)
        let period = Self.month(now)
        var targets = Crm_Forecast_V1_TargetSet()
        targets.period = period
        targets.currency = "EUR"
        for team in DemoOrganisation.teams {
            var teamTarget = Crm_Forecast_V1_TeamTarget()
            teamTarget.teamId = users.values.first { user in
                DemoOrganisation.reps.contains { $0.team == team && users[$0.key]?.id == user.id }
            }?.teamId ?? ""
            for rep in DemoOrganisation.reps where rep.team == team {
                guard let user = users[rep.key] else { continue }
                var person = Crm_Forecast_V1_PersonTarget()
                person.userId = user.id
                person.amountCents = 12_000_000
                teamTarget.people.append(person)
                teamTarget.amountCents += person.amountCents
            }
            targets.teams.append(teamTarget)
            targets.companyAmountCents += teamTarget.amountCents
        }
        let stored = try? await forecast.getTargets(Crm_Forecast_V1_GetTargetsRequest(period: period), options: admin.options())
        if let existing = stored?.targets, existing.companyAmountCents == targets.companyAmountCents { return }
        var request = Crm_Forecast_V1_SetTargetsRequest()
        request.targets = targets
        request.version = stored?.targets?.version ?? 0
        _ = try await forecast.setTargets(request, options: admin.options())
        report.count("target sets")
    }

    static func month(_ ms: Int64) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyy-MM"
        return formatter.string(from: Date(timeIntervalSince1970: Double(ms) / 1000))
    }

    static func date(_ ms: Int64) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyy-MM-dd"
        return formatter.string(from: Date(timeIntervalSince1970: Double(ms) / 1000))
    }

    // MARK: Summary

    private func summarise() {
        report.lines.append("Demo organisation in the suite at \(gateway.address):")
        if report.counts.isEmpty { report.lines.append("  already there: nothing new created") }
        for (what, n) in report.counts.sorted(by: { $0.key < $1.key }) { report.lines.append("  \(n) new \(what)") }
        report.lines.append("")
        report.lines.append("Sign in as a demo user with their token (Bearer), e.g. crm-admin my-day --token <token>:")
        let people = [DemoOrganisation.admin] + DemoOrganisation.managers + DemoOrganisation.reps
        for person in people {
            guard let user = users[person.key], let token = tokens[person.key] else { continue }
            report.lines.append("  \(person.email.padding(toLength: 22, withPad: " ", startingAt: 0)) \(RoleName.text(user.role).padding(toLength: 8, withPad: " ", startingAt: 0)) \(user.id)  \(token)")
        }
    }
}
