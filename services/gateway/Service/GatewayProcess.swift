import CRMProto
import CRMStore
import Logging
import Prometheus
import RPCCore
import ServiceRuntime

/// The crm-gateway process: its store (users, teams, tokens), the bearer interceptor, the
/// GatewayService, pass-through routing of every crm.<service>.v1 method, and backend health.
public enum GatewayProcess {
    /// How often backend health is probed in the background (ListBackends also probes on demand).
    static let probeInterval: Duration = .seconds(2)

    public static func run(options: ResolvedOptions, adminToken: String?, registry: PrometheusCollectorRegistry?) async throws {
        var logger = Logger(label: "crm-gateway")
        logger.logLevel = Logger.Level(rawValue: options.logLevel) ?? .info
        guard let serviceToken = options.serviceToken, !serviceToken.isEmpty else {
            throw RPCError(.invalidArgument, "--service-token (or CRM_SERVICE_TOKEN) is required: the gateway forwards it to every service")
        }
        let store = try Store(path: options.databasePath, migrations: GatewaySchema.migrations)
        let clock = options.clock
        let backendNames = BackendID.allCases.map(\.serviceName)
        let health = HealthService(services: [Crm_Gateway_V1_GatewayService.name] + backendNames)
        let backends = Backends(options: options, health: health, clock: clock)
        let identities = CallIdentities()
        let authenticator = Authenticator(store: store, clock: clock, adminToken: adminToken,
                                          serviceToken: serviceToken, logger: logger)
        if adminToken?.isEmpty ?? true {
            logger.notice("no --admin-token: users can only be created with an existing admin's token")
        }
        let gateway = GatewayHandler(store: store, clock: clock, identities: identities, authenticator: authenticator,
                                     backends: backends, serviceToken: serviceToken)
        let json = JSONGateway(authenticator: authenticator)
        let passThrough = PassThrough(backends: backends, identities: identities, serviceToken: serviceToken)
        let host = try ServiceHost(
            options: options, services: [identities.scoped(gateway)], requireServiceToken: false,
            extraInterceptors: [BearerInterceptor(authenticator: authenticator, identities: identities)],
            health: health, fallback: { path in passThrough.method(for: path) },
            plainHandler: { request in await json.handle(request) })
        try await host.run(registry: registry, background: [backends.monitor(every: probeInterval)])
        await backends.close()
    }
}
