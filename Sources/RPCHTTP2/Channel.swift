import NIOCore
import NIOPosix
import RPCCore
import Synchronization

/// A client channel to one `host:port`: multiplexed HTTP/2 connections, re-established on
/// demand with exponential backoff. While a reconnect is backing off, calls fail fast with
/// UNAVAILABLE instead of piling up, which is what a gateway in front of a dead service needs.
///
/// A call made from an event loop (a server's handler runs on its connection's loop) uses a
/// connection on that same loop, so a forwarded call never crosses threads: each of its steps
/// (start, send, receive, metadata) runs inline. Other callers share connections on `group`.
public final class HTTP2Channel: RPCChannel, Sendable {
    public let host: String
    public let port: Int
    public let maxReceiveMessageSize: Int
    let group: any EventLoopGroup
    private let state = Mutex(State())

    struct State {
        /// By the event loop they run on.
        var connections: [ObjectIdentifier: ClientConnectionHandler] = [:]
        var connecting: [ObjectIdentifier: Task<ClientConnectionHandler, any Error>] = [:]
        var nextAttempt: ContinuousClock.Instant?
        var backoff: Duration = .milliseconds(100)
        var lastError = ""
        var closed = false
    }

    public static let maxBackoff: Duration = .seconds(5)

    public init(host: String, port: Int, maxReceiveMessageSize: Int = 4 * 1024 * 1024,
                group: (any EventLoopGroup)? = nil) {
        self.host = host
        self.port = port
        self.maxReceiveMessageSize = maxReceiveMessageSize
        // Channels share NIO's process-wide loops unless told otherwise: a process talking to five
        // peers should not own five thread pools.
        self.group = group ?? MultiThreadedEventLoopGroup.singleton
    }

    /// Parses `HOST:PORT` (IPv6 as `[::1]:PORT`).
    public convenience init(address: String, group: (any EventLoopGroup)? = nil) throws {
        guard let colon = address.lastIndex(of: ":"), let port = Int(address[address.index(after: colon)...]) else {
            throw RPCError(.invalidArgument, "address '\(address)' is not HOST:PORT")
        }
        var host = String(address[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        self.init(host: host, port: port, group: group)
    }

    public func makeCall(path: String, options: CallOptions) async throws -> any RPCClientCall {
        let connection = try await readyConnection()
        let id = connection.eventLoop.inEventLoop
            ? try connection.startCall(path: path, options: options)
            : try await connection.eventLoop.submit { try connection.startCall(path: path, options: options) }.get()
        return HTTP2ClientCall(connection: connection, streamID: id)
    }

    private enum Readiness {
        case ready(ClientConnectionHandler)
        case connecting(Task<ClientConnectionHandler, any Error>)
    }

    private func readyConnection() async throws -> ClientConnectionHandler {
        let eventLoop = MultiThreadedEventLoopGroup.currentEventLoop ?? group.next()
        let key = ObjectIdentifier(eventLoop)
        let readiness: Readiness = try state.withLock { state in
            if state.closed { throw RPCError(.unavailable, "channel to \(host):\(port) is closed") }
            if let connection = state.connections[key], connection.isUsable { return .ready(connection) }
            state.connections[key] = nil
            if let connecting = state.connecting[key] { return .connecting(connecting) }
            if let next = state.nextAttempt, ContinuousClock.now < next {
                throw RPCError(.unavailable, "\(host):\(port) is unreachable (\(state.lastError)); retrying in \(next - .now)")
            }
            let connecting = Task { try await self.connect(on: eventLoop) }
            state.connecting[key] = connecting
            return .connecting(connecting)
        }
        switch readiness {
        case .ready(let connection): return connection
        case .connecting(let task): return try await task.value
        }
    }

    private func connect(on eventLoop: any EventLoop) async throws -> ClientConnectionHandler {
        let authority = "\(host):\(port)"
        let maxSize = maxReceiveMessageSize
        let key = ObjectIdentifier(eventLoop)
        do {
            // The handler must be in the pipeline before the socket connects, or the server's
            // first SETTINGS frame could arrive with nobody to read it.
            let handler = ClientConnectionHandler(eventLoop: eventLoop, authority: authority, maxReceiveMessageSize: maxSize)
            _ = try await ClientBootstrap(group: eventLoop)
                .channelOption(.socketOption(.tcp_nodelay), value: 1)
                .connectTimeout(.seconds(2))
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(handler) }
                }
                .connect(host: host, port: port).get()
            let id = ObjectIdentifier(handler)
            try await handler.eventLoop.submit {
                handler.onUnusable = { [weak self] in self?.dropConnection(id) }
            }.get()
            state.withLock { state in
                state.connections[key] = handler
                state.connecting[key] = nil
                state.nextAttempt = nil
                state.backoff = .milliseconds(100)
            }
            return handler
        } catch {
            let message = "connect to \(authority) failed: \(error)"
            state.withLock { state in
                state.connecting[key] = nil
                state.lastError = "\(error)"
                let jitter = Double.random(in: 0.8...1.2)
                state.nextAttempt = .now + state.backoff * jitter
                state.backoff = min(state.backoff * 2, Self.maxBackoff)
            }
            throw RPCError(.unavailable, message)
        }
    }

    private func dropConnection(_ id: ObjectIdentifier) {
        state.withLock { state in
            if let (key, _) = state.connections.first(where: { ObjectIdentifier($0.value) == id }) {
                state.connections[key] = nil
            }
        }
    }

    /// Closes the connections; calls in flight fail with UNAVAILABLE.
    public func close() async {
        let connections = state.withLock { state -> [ClientConnectionHandler] in
            state.closed = true
            defer { state.connections = [:] }
            return Array(state.connections.values)
        }
        for connection in connections {
            connection.eventLoop.execute { connection.close(reason: "channel closed") }
        }
    }
}

/// One call on an ``HTTP2Channel``. Every operation runs on the connection's event loop: inline when
/// the caller is already there, otherwise as a task sent to it (in order, so steps never overtake).
final class HTTP2ClientCall: RPCClientCall {
    let connection: ClientConnectionHandler
    let streamID: Int32

    init(connection: ClientConnectionHandler, streamID: Int32) {
        self.connection = connection
        self.streamID = streamID
    }

    deinit {
        let connection = connection, id = streamID
        connection.eventLoop.runOnLoop { connection.release(id) }
    }

    private func onLoop(_ body: @escaping @Sendable () -> Void) { connection.eventLoop.runOnLoop(body) }

    func send(_ message: [UInt8]) async throws {
        try await withCheckedThrowingContinuation { continuation in
            onLoop { self.connection.send(self.streamID, message, continuation) }
        }
    }

    /// One step for the whole request: a single message is never held back by flow control for
    /// long, so there is nothing to wait for.
    func sendLast(_ message: [UInt8]) async throws {
        onLoop {
            self.connection.send(self.streamID, message, nil)
            self.connection.finishSending(self.streamID)
        }
    }

    func finishSending() async throws {
        onLoop { self.connection.finishSending(self.streamID) }
    }

    func receive() async throws -> [UInt8]? {
        try await withCheckedThrowingContinuation { continuation in
            onLoop { self.connection.receive(self.streamID, continuation) }
        }
    }

    func initialMetadata() async throws -> Metadata {
        try await withCheckedThrowingContinuation { continuation in
            onLoop { self.connection.initialMetadata(self.streamID, continuation) }
        }
    }

    func trailingMetadata() async -> Metadata {
        await withCheckedContinuation { continuation in
            onLoop { self.connection.trailingMetadata(self.streamID, continuation) }
        }
    }

    func cancel() {
        onLoop { self.connection.cancel(self.streamID) }
    }
}
