import ArgumentParser
import OpportunitiesService
import ServiceRuntime

/// crm-opportunities: opportunities with gated stages, follow-ups, tasks, risk flags, win and loss.
struct OpportunitiesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "crm-opportunities",
        abstract: "Serves crm.opportunities.v1.OpportunityService: stages with R4 gates, R5 follow-ups, R6 tasks, R8 risk, R9/R10 win and loss.")

    @OptionGroup var options: SuiteOptions

    func run() async throws {
        let registry = ServiceHost.bootstrapObservability()
        try await OpportunitiesProcess.run(options: try options.resolve(name: "opportunities"), registry: registry)
    }
}

// main.swift runs top-level code (no @main): parse, then run the async command on its concrete type.
do {
    let command = try OpportunitiesCommand.parse()
    try await command.run()
} catch {
    OpportunitiesCommand.exit(withError: error)
}
