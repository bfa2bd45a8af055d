import ArgumentParser
import CRMProto
import Foundation
import RPCCore

/// `crm-admin seed --demo`: a living demo CRM through the public RPCs of the gateway.
struct Seed: AdminCommand {
    static let configuration = CommandConfiguration(
        abstract: "Fill the suite with a realistic demo organisation through the gateway's public RPCs.",
        discussion: """
            Creates two teams (Demo North, Demo South) with a manager and two reps each and an admin \
            (…@\(DemoOrganisation.emailDomain)); for every rep leads in every state (pool, assigned, activated, \
            converted, disqualified), customers with key people (one marked key), deals at every stage of \
            line 3 plus one won (its onboarding tickets follow, R9) and one lost with its review (R10), \
            follow-ups and a service ticket; and this month's targets. Acts as each demo user with a token \
            issued for it. Needs the admin token (--token / CRM_ADMIN_TOKEN). Running it again on a seeded \
            suite changes nothing. \(AdminExit.helpText)
            """)

    @Flag(help: "Create the demo organisation (the only kind of seed there is).")
    var demo = false

    @OptionGroup var gateway: GatewayAccess

    mutating func execute() async throws -> Int32 {
        guard demo else { throw AdminError("say what to seed: --demo", code: AdminExit.usage) }
        let admin = try gateway.endpoint()
        defer { Task { [admin] in await admin.close() } }
        let seeder = DemoSeeder(gateway: gateway, admin: admin)
        let report = try await seeder.run()
        for line in report.lines { Output.line(line) }
        if !report.failures.isEmpty {
            Output.line("")
            Output.line("\(report.failures.count) step(s) failed:")
            for failure in report.failures { Output.line("  ! \(failure)") }
            return AdminExit.problems
        }
        return AdminExit.ok
    }
}

/// What a seed run did: counts, the demo users' tokens, and any step that failed.
struct SeedReport {
    var lines: [String] = []
    var failures: [String] = []
    var counts: [String: Int] = [:]

    mutating func count(_ what: String, _ n: Int = 1) { counts[what, default: 0] += n }
}
