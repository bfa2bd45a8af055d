import ArgumentParser
import ForecastService
import ServiceRuntime

/// crm-forecast: targets, action-based probability (R11), forecast and its accuracy, results
/// analytics and the R12 review, on its own SQLite store.
struct CRMForecast: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "crm-forecast",
        abstract: "The results module of the CRM suite: targets, R11 probability, forecast, accuracy, analytics, R12 review.")

    @OptionGroup var options: SuiteOptions

    func run() async throws {
        let registry = ServiceHost.bootstrapObservability()
        try await ForecastProcess.run(options: try options.resolve(name: "forecast"), registry: registry)
    }
}

// Parse and run by hand: in top-level code the synchronous `ParsableCommand.main()` wins overload
// resolution, and it cannot run an async `run()`.
do {
    var command = try CRMForecast.parseAsRoot()
    if let forecast = command as? CRMForecast { try await forecast.run() } else { try command.run() }
} catch {
    CRMForecast.exit(withError: error)
}
