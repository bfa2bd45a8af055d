import NIOCore
import NIOPosix
import RPCCore
import Synchronization

/// Learns of every finished call; the service runtime turns this into logs and metrics.
public protocol RPCServerObserver: Sendable {
    func callFinished(path: String, code: StatusCode, message: String, duration: Duration, peer: String)
}

public struct RPCServerConfiguration: Sendable {
    public var host: String
    /// 0 picks a free port.
    public var port: Int
    /// Larger request messages are refused with RESOURCE_EXHAUSTED.
    public var maxReceiveMessageSize: Int = 4 * 1024 * 1024
    public var maxConcurrentStreams: UInt32 = 1000
    /// Per-stream receive window; also how much a slow handler may have queued before we push back.
    public var initialWindowSize: UInt32 = 1024 * 1024
    /// nghttp2's RST_STREAM rate limit (token bucket): generous, since gRPC clients cancel a lot.
    public var streamResetBurst: UInt64 = 10_000
    public var streamResetRate: UInt64 = 1_000
    /// How long in-flight calls may run after a shutdown begins.
    public var shutdownGracePeriod: Duration = .seconds(10)
    public var observer: (any RPCServerObserver)?
    /// Turns errors a handler throws that are not `RPCError` into a status (e.g. a database's busy
    /// or full errors); unmapped errors become INTERNAL.
    public var errorMapper: (@Sendable (any Error) -> RPCError?)?

    public init(host: String = "127.0.0.1", port: Int = 0) {
        self.host = host
        self.port = port
    }

    var initialWindowSizeInt: Int { Int(initialWindowSize) }
}

/// Maps `/package.Service/Method` to a method, and names what is missing when nothing matches.
public struct Router: Sendable {
    enum Resolution {
        case found(RPCMethod)
        case failure(RPCError)
    }

    private var services: [String: [String: RPCMethod]] = [:]
    /// Every registered `/Service/Method`, for a lookup without splitting the path on each call.
    private var paths: [String: RPCMethod] = [:]
    public private(set) var interceptors: [any ServerInterceptor] = []
    /// Serves paths of services not registered here (the gateway's pass-through).
    public var fallback: (@Sendable (String) -> RPCMethod?)?
    /// Answers POST requests whose content-type is not gRPC (e.g. JSON) with the whole body in
    /// hand. Without it such requests get HTTP 415.
    public var plainHandler: (@Sendable (PlainRequest) async -> PlainResponse)?

    public init() {}

    public mutating func register(_ service: any RPCService) {
        let definition = service.serviceDefinition
        var methods: [String: RPCMethod] = [:]
        for method in definition.methods {
            methods[method.name] = method
            paths["/\(definition.name)/\(method.name)"] = method
        }
        services[definition.name] = methods
    }

    public mutating func add(_ interceptor: any ServerInterceptor) {
        interceptors.append(interceptor)
    }

    public var serviceNames: [String] { services.keys.sorted() }

    func resolve(_ path: String) -> Resolution {
        if let method = paths[path] { return .found(method) }
        guard let (service, methodName) = Self.split(path) else {
            return .failure(RPCError(.unimplemented, "path '\(path)' is not /package.Service/Method"))
        }
        guard let methods = services[String(service)] else {
            if let method = fallback?(path) { return .found(method) }
            return .failure(RPCError(.unimplemented, "unknown service \(service)"))
        }
        guard let method = methods[String(methodName)] else {
            return .failure(RPCError(.unimplemented, "unknown method \(methodName) of service \(service)"))
        }
        return .found(method)
    }

    /// `/package.Service/Method` as its two non-empty parts; nil for any other shape. (Runs for every
    /// call the gateway passes through, so it scans instead of allocating an array of parts.)
    public static func split(_ path: String) -> (service: Substring, method: Substring)? {
        guard path.hasPrefix("/") else { return nil }
        let afterSlash = path.index(after: path.startIndex)
        guard let slash = path[afterSlash...].firstIndex(of: "/") else { return nil }
        let service = path[afterSlash..<slash]
        let method = path[path.index(after: slash)...]
        guard !service.isEmpty, !method.isEmpty, !method.contains("/") else { return nil }
        return (service, method)
    }
}

/// A gRPC server over cleartext HTTP/2 (prior knowledge), with nghttp2 doing the HTTP/2.
public final class RPCServer: Sendable {
    public let configuration: RPCServerConfiguration
    let router: Router
    let group: MultiThreadedEventLoopGroup
    private let state = Mutex(State())

    struct State {
        var channel: (any Channel)?
        var connections: [ObjectIdentifier: ServerConnectionHandler] = [:]
        var closedWaiters: [CheckedContinuation<Void, Never>] = []
        var shuttingDown = false
    }

    public init(router: Router, configuration: RPCServerConfiguration, threads: Int = System.coreCount) {
        self.router = router
        self.configuration = configuration
        self.group = MultiThreadedEventLoopGroup(numberOfThreads: max(1, threads))
    }

    /// Binds and starts accepting; returns the bound address (useful with port 0).
    public func start() async throws -> (host: String, port: Int) {
        let router = self.router
        let configuration = self.configuration
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { [weak self] channel in
                channel.eventLoop.makeCompletedFuture {
                    let handler = ServerConnectionHandler(router: router, configuration: configuration,
                                                          eventLoop: channel.eventLoop)
                    if let self, !self.track(handler) {
                        throw RPCError(.unavailable, "server is shutting down")
                    }
                    try channel.pipeline.syncOperations.addHandler(handler)
                }
            }
        let channel = try await bootstrap.bind(host: configuration.host, port: configuration.port).get()
        state.withLock { $0.channel = channel }
        let port = channel.localAddress?.port ?? configuration.port
        return (configuration.host, port)
    }

    private func track(_ handler: ServerConnectionHandler) -> Bool {
        let id = ObjectIdentifier(handler)
        let accepted = state.withLock { state -> Bool in
            guard !state.shuttingDown else { return false }
            state.connections[id] = handler
            return true
        }
        guard accepted else { return false }
        handler.onClose = { [weak self] in self?.forget(id) }
        return true
    }

    private func forget(_ id: ObjectIdentifier) {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.connections[id] = nil
            guard state.shuttingDown, state.connections.isEmpty else { return [] }
            defer { state.closedWaiters = [] }
            return state.closedWaiters
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Graceful shutdown: stop accepting, GOAWAY every connection, let in-flight calls finish
    /// (up to the grace period), then close everything.
    public func shutdown() async {
        let (channel, connections) = state.withLock { state in
            state.shuttingDown = true
            return (state.channel, Array(state.connections.values))
        }
        try? await channel?.close()
        for connection in connections {
            connection.eventLoop.execute { connection.beginGracefulShutdown() }
        }
        let drained = await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                await withCheckedContinuation { continuation in
                    let done = self.state.withLock { state -> Bool in
                        if state.connections.isEmpty { return true }
                        state.closedWaiters.append(continuation)
                        return false
                    }
                    if done { continuation.resume() }
                }
                return true
            }
            group.addTask {
                try? await Task.sleep(for: self.configuration.shutdownGracePeriod)
                return false
            }
            let first = await group.next() ?? false
            group.cancelAll()
            return first
        }
        if !drained {
            let remaining = state.withLock { Array($0.connections.values) }
            for connection in remaining { connection.eventLoop.execute { connection.forceClose() } }
        }
        try? await group.shutdownGracefully()
    }
}
