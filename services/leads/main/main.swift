import ArgumentParser
import Foundation
import LeadsService
import ServiceRuntime

/// crm-leads: lead intake (R1), pool and assignment, 24-hour activation (R2), conversion, source analytics.
struct LeadsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "crm-leads",
        abstract: "Serves crm.leads.v1.LeadService: lead intake, pool and assignment, R2 activation, conversion.")

    @OptionGroup var options: SuiteOptions

    @Option(name: .customLong("directory-cache-ms"),
            help: "How long the user directory read from crm-gateway is cached, in ms (env CRM_LEADS_DIRECTORY_CACHE_MS; default 5000).")
    var directoryCacheMs: Int?

    /// Serves until SIGTERM/SIGINT. (main.swift is top-level code, so the async entry point is ours,
    /// not AsyncParsableCommand's.)
    func serve() async throws {
        let registry = ServiceHost.bootstrapObservability()
        let resolved = try options.resolve(name: "leads")
        let envCache = ProcessInfo.processInfo.environment["CRM_LEADS_DIRECTORY_CACHE_MS"].flatMap(Int.init)
        let cacheMs = max(directoryCacheMs ?? envCache ?? 5000, 0)
        try await LeadsProcess.run(options: resolved, registry: registry,
                                   configuration: LeadsConfiguration(directoryCacheTTL: .milliseconds(cacheMs)))
    }
}

let command = LeadsCommand.parseOrExit()
do {
    try await command.serve()
} catch {
    LeadsCommand.exit(withError: error)
}
