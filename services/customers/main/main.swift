import ArgumentParser
import CustomersService
import ServiceRuntime

/// crm-customers: customers, contacts, grading, lifecycle, ownership and key customers (PRODUCT.md).
@main
struct CustomersCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "crm-customers",
        abstract: "Serves crm.customers.v1.CustomerService and its EventSink over gRPC with its own SQLite store.")

    @OptionGroup var options: SuiteOptions

    func run() async throws {
        let registry = ServiceHost.bootstrapObservability()
        try await CustomersProcess.run(options: try options.resolve(name: "customers"), registry: registry)
    }
}
