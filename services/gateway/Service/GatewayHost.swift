import Dispatch
import Foundation
import Logging
import Prometheus
import RPCCore
import RPCHTTP2
import ServiceRuntime

/// Serves the gateway: like ServiceHost (address line, health, one log line per call, metrics,
/// graceful SIGTERM), but with the pass-through fallback and the bearer interceptor, which
/// ServiceHost cannot take (its Router is built inside `run`, without a fallback).
struct GatewayHost {
    let options: ResolvedOptions
    let logger: Logger
    let services: [any RPCService]
    let health: HealthService
    let interceptor: any ServerInterceptor
    let fallback: @Sendable (String) -> RPCMethod?

    func run(registry: PrometheusCollectorRegistry?, background: [@Sendable () async -> Void]) async throws {
        var router = Router()
        for service in services { router.register(service) }
        router.register(health)
        router.add(interceptor)
        router.fallback = fallback

        var configuration = RPCServerConfiguration(host: options.listen.host, port: options.listen.port)
        configuration.maxReceiveMessageSize = options.maxReceiveMessageSize
        configuration.observer = RPCCallRecorder(logger: logger)
        let server = RPCServer(router: router, configuration: configuration)
        let signals = ShutdownSignals()
        let bound = try await server.start()
        var metrics: MetricsEndpoint?
        if let registry, let address = options.metricsListen {
            metrics = try await MetricsEndpoint.start(registry: registry, at: address)
        }
        // Tests and scripts read this first line to learn the port when --listen used port 0.
        print("listening on \(HostPort(host: bound.host, port: bound.port))")
        if let metrics, let address = options.metricsListen { print("metrics on http://\(address.host):\(metrics.port)/metrics") }
        fflush(nil)
        logger.info("serving", metadata: ["address": "\(bound.host):\(bound.port)", "store": "\(options.databasePath)"])

        let jobs = Task {
            await withTaskGroup(of: Void.self) { group in
                for job in background { group.addTask { await job() } }
            }
        }
        let signal = await signals.wait()
        logger.info("shutting down", metadata: ["signal": "\(signal)"])
        health.shutdown()
        await server.shutdown()
        jobs.cancel()
        await jobs.value
        await metrics?.stop()
    }
}

/// SIGTERM and SIGINT as an awaitable event instead of process death.
final class ShutdownSignals: @unchecked Sendable {  // sources are set once in init
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
