import Dispatch
import Foundation
import Logging
import Metrics
import Prometheus
import RPCCore
import RPCHTTP2
import Synchronization

/// Runs one process of the suite: binds its server, hosts its services and health, prints the
/// address it listens on, and shuts down gracefully on SIGTERM or SIGINT.
public struct ServiceHost {
    public let options: ResolvedOptions
    public let logger: Logger
    public let health: HealthService
    private let services: [any RPCService]
    private let interceptors: [any ServerInterceptor]
    private let fallback: (@Sendable (String) -> RPCMethod?)?
    private let plainHandler: (@Sendable (PlainRequest) async -> PlainResponse)?

    /// `requireServiceToken` is false for processes that authenticate callers another way (the
    /// gateway's bearer tokens) or sit outside the suite (the interop conformance server).
    /// `health` replaces the default health service (one entry per hosted service); `fallback`
    /// answers paths no hosted service registers (the gateway's pass-through routing);
    /// `plainHandler` answers non-gRPC requests (the gateway's JSON transcoding) instead of HTTP 415.
    public init(options: ResolvedOptions, services: [any RPCService], requireServiceToken: Bool = true,
                extraInterceptors: [any ServerInterceptor] = [], health: HealthService? = nil,
                fallback: (@Sendable (String) -> RPCMethod?)? = nil,
                plainHandler: (@Sendable (PlainRequest) async -> PlainResponse)? = nil) throws {
        self.options = options
        var logger = Logger(label: "crm-\(options.name)")
        logger.logLevel = Logger.Level(rawValue: options.logLevel) ?? .info
        self.logger = logger
        var interceptors: [any ServerInterceptor] = []
        if requireServiceToken {
            guard let token = options.serviceToken, !token.isEmpty else {
                throw RPCError(.invalidArgument, "--service-token (or CRM_SERVICE_TOKEN) is required")
            }
            interceptors.append(ServiceTokenInterceptor(token: token))
        }
        self.interceptors = interceptors + extraInterceptors
        self.services = services
        self.fallback = fallback
        self.plainHandler = plainHandler
        self.health = health ?? HealthService(services: services.map(\.serviceDefinition.name))
    }

    /// Metrics and logging go to one place per process; call once, before anything logs.
    public static func bootstrapObservability() -> PrometheusCollectorRegistry {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = .info
            return handler
        }
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        return registry
    }

    /// Serves until SIGTERM/SIGINT, then drains in-flight calls and returns. `background` jobs
    /// (outbox relays, sweeps) run alongside and are cancelled at shutdown.
    public func run(registry: PrometheusCollectorRegistry? = nil,
                    background: [@Sendable () async -> Void] = []) async throws {
        var router = Router()
        for service in services { router.register(service) }
        router.register(health)
        for interceptor in interceptors { router.add(interceptor) }
        router.fallback = fallback
        router.plainHandler = plainHandler

        var configuration = RPCServerConfiguration(host: options.listen.host, port: options.listen.port)
        configuration.maxReceiveMessageSize = options.maxReceiveMessageSize
        configuration.observer = RPCCallRecorder(logger: logger)
        configuration.errorMapper = { error in StoreErrorStatus.status(for: error) }
        let server = RPCServer(router: router, configuration: configuration)
        let shutdownSignal = SignalWaiter()
        let bound = try await server.start()
        var metrics: MetricsEndpoint?
        if let registry, let address = options.metricsListen {
            metrics = try await MetricsEndpoint.start(registry: registry, at: address)
        }
        // Tests and scripts read this first line to learn the port when --listen used port 0.
        print("listening on \(HostPort(host: bound.host, port: bound.port))")
        if let metrics { print("metrics on http://\(options.metricsListen!.host):\(metrics.port)/metrics") }
        fflush(nil)  // all streams: the address line must reach a pipe reader now
        logger.info("serving", metadata: ["address": "\(bound.host):\(bound.port)", "store": "\(options.databasePath)"])

        let jobs = Task {
            await withTaskGroup(of: Void.self) { group in
                for job in background { group.addTask { await job() } }
            }
        }
        let signal = await shutdownSignal.wait()
        logger.info("shutting down", metadata: ["signal": "\(signal)"])
        health.shutdown()
        await server.shutdown()
        jobs.cancel()
        // A job that ignores cancellation must not keep the process alive past its shutdown.
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let resumed = Mutex(false)
            let resumeOnce: @Sendable () -> Void = {
                if resumed.withLock({ done in defer { done = true }; return !done }) { continuation.resume() }
            }
            Task { await jobs.value; resumeOnce() }
            Task { try? await Task.sleep(for: .seconds(3)); resumeOnce() }
        }
        await metrics?.stop()
        logger.info("stopped")
    }
}

/// Turns SIGTERM and SIGINT into an awaitable event instead of killing the process.
final class SignalWaiter: @unchecked Sendable {  // sources are set once in init
    private let sources: [any DispatchSourceSignal]
    private let stream: AsyncStream<Int32>

    init() {
        let (stream, continuation) = AsyncStream<Int32>.makeStream()
        self.stream = stream
        var sources: [any DispatchSourceSignal] = []
        for signo in [SIGTERM, SIGINT] {
            signal(signo, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: signo, queue: .global())
            source.setEventHandler { continuation.yield(signo) }
            source.resume()
            sources.append(source)
        }
        self.sources = sources
    }

    func wait() async -> Int32 {
        for await signo in stream { return signo }
        return SIGTERM
    }
}

/// A background job that runs `body` every `interval` until the host shuts down (periodic sweeps:
/// lead reclaim, risk flags, reminders). Errors are logged, never fatal.
public func periodically(every interval: Duration, logger: Logger, _ name: String,
                         _ body: @escaping @Sendable () async throws -> Void) -> @Sendable () async -> Void {
    {
        while !Task.isCancelled {
            do { try await body() } catch is CancellationError { return } catch {
                logger.error("\(name) failed", metadata: ["error": "\(error)"])
            }
            try? await Task.sleep(for: interval)
        }
    }
}
