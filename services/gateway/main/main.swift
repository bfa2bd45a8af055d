import ArgumentParser
import Foundation
import GatewayService
import ServiceRuntime

/// crm-gateway: the one address clients use (SUITE.md). The suite's flags plus the bootstrap admin
/// token. Parsed as plain arguments because top-level code in main.swift cannot use @main, and an
/// AsyncParsableCommand's `main()` resolves to the synchronous entry point here.
struct GatewayArguments: ParsableArguments {
    @OptionGroup var options: SuiteOptions

    @Option(name: .customLong("admin-token"),
            help: "Bootstrap credential of the first administrator: use it as a Bearer token to create the first users (env CRM_ADMIN_TOKEN).")
    var adminToken: String?

    /// The flag, else the environment, else none.
    var resolvedAdminToken: String? {
        if let adminToken, !adminToken.isEmpty { return adminToken }
        let environment = ProcessInfo.processInfo.environment["CRM_ADMIN_TOKEN"] ?? ""
        return environment.isEmpty ? nil : environment
    }
}

let arguments = GatewayArguments.parseOrExit()
let registry = ServiceHost.bootstrapObservability()
do {
    let options = try arguments.options.resolve(name: "gateway")
    try await GatewayProcess.run(options: options, adminToken: arguments.resolvedAdminToken, registry: registry)
} catch {
    GatewayArguments.exit(withError: error)
}
