import ArgumentParser
import ServiceRuntime
import TicketsService

/// crm-tickets: the after-sales line (R9) as its own process. All logic lives in TicketsService.
struct CRMTickets: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "crm-tickets",
        abstract: "After-sales tickets: delivery, training, service requests, return visits, repurchase (R9).")

    @OptionGroup var options: SuiteOptions

    func serve() async throws {
        let registry = ServiceHost.bootstrapObservability()
        try await TicketsProcess.run(options: try options.resolve(name: "tickets"), registry: registry)
    }
}

// main.swift is top-level code, where an AsyncParsableCommand's `main()` resolves to the synchronous
// entry point; so parse here (help, validation errors and exit codes as usual) and serve explicitly.
do {
    try await CRMTickets.parse().serve()
} catch {
    CRMTickets.exit(withError: error)
}
