import ArgumentParser
import ServiceRuntime

/// The gRPC interop conformance server: `grpc.testing.TestService` plus health, no service token.
@main
struct InteropServer: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "crm-interop-server",
        abstract: "Serves grpc.testing.TestService so stock gRPC interop clients can check the runtime.")

    @OptionGroup var options: SuiteOptions

    func run() async throws {
        let registry = ServiceHost.bootstrapObservability()
        var resolved = try options.resolve(name: "interop")
        if options.listen == nil, resolved.listen.port == 0 { resolved.listen.port = 0 }
        let host = try ServiceHost(options: resolved, services: [TestService()], requireServiceToken: false)
        try await host.run(registry: registry)
    }
}

