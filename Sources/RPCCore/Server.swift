import ProtoWire
import Synchronization

/// The four call shapes of gRPC.
public enum CallKind: String, Sendable {
    case unary, serverStreaming, clientStreaming, bidirectional
}

/// What a handler knows about the call it serves, and the metadata it sends back.
///
/// A class because the handler and the transport share it: the handler sets response metadata,
/// the transport reads it when it sends headers and trailers.
public final class ServerContext: Sendable {
    /// `/package.Service/Method`
    public let path: String
    public let requestMetadata: Metadata
    public let deadline: ContinuousClock.Instant?
    public let peer: String
    private let state = Mutex(State())

    struct State {
        var initialMetadata = Metadata()
        var trailingMetadata = Metadata()
    }

    public init(path: String, requestMetadata: Metadata, deadline: ContinuousClock.Instant?, peer: String) {
        self.path = path
        self.requestMetadata = requestMetadata
        self.deadline = deadline
        self.peer = peer
    }

    /// Metadata for the response headers; only what is set before the first response message is sent.
    public func addInitialMetadata(_ key: String, _ value: Metadata.Value) {
        state.withLock { $0.initialMetadata.add(key, value) }
    }

    /// Metadata for the trailers, sent with the status.
    public func addTrailingMetadata(_ key: String, _ value: Metadata.Value) {
        state.withLock { $0.trailingMetadata.add(key, value) }
    }

    public var initialMetadata: Metadata { state.withLock { $0.initialMetadata } }
    public var trailingMetadata: Metadata { state.withLock { $0.trailingMetadata } }

    /// Time left before the deadline, if the client set one.
    public var timeRemaining: Duration? {
        deadline.map { $0 - ContinuousClock.now }
    }
}

/// Where a handler's request messages come from (the transport implements it).
public protocol RawRequestSource: Sendable {
    /// The next message's bytes, nil once the client half-closed. Throws if the stream broke.
    func next() async throws -> [UInt8]?
    /// Every request message at once, if the client has already half-closed and none was taken yet
    /// (nearly every unary call); nil otherwise, and then `next()` is the way. Lets a forwarder send
    /// a complete request without a task of its own to pump it.
    func takeAllIfComplete() -> [[UInt8]]?
}

extension RawRequestSource {
    public func takeAllIfComplete() -> [[UInt8]]? { nil }
}

/// Where a handler's response messages go (the transport implements it).
public protocol RawResponseSink: Sendable {
    /// Queues one message; suspends while the peer is slow to read (flow control).
    func write(_ message: [UInt8]) async throws
}

/// The request messages of a streaming call, decoded as they arrive.
public struct RequestStream<Message: ProtoMessage>: AsyncSequence, Sendable {
    public typealias Element = Message
    let source: any RawRequestSource

    public init(source: any RawRequestSource) { self.source = source }

    public struct AsyncIterator: AsyncIteratorProtocol {
        let source: any RawRequestSource
        public mutating func next() async throws -> Message? {
            guard let bytes = try await source.next() else { return nil }
            return try decodeRequest(Message.self, bytes)
        }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(source: source) }
}

/// Sends response messages of a streaming call.
public struct ResponseWriter<Message: ProtoMessage>: Sendable {
    let sink: any RawResponseSink
    public init(sink: any RawResponseSink) { self.sink = sink }

    public func write(_ message: Message) async throws {
        try await sink.write(message.serializedBytes())
    }
}

/// Decodes a request, turning a malformed body into INVALID_ARGUMENT that says what is wrong.
func decodeRequest<M: ProtoMessage>(_ type: M.Type, _ bytes: [UInt8]) throws -> M {
    do {
        return try M(serializedBytes: bytes)
    } catch let error as ProtoDecodingError {
        throw RPCError(.invalidArgument, "request \(M.protoMessageName): \(error)")
    }
}

/// One method of a service, type-erased so a server can dispatch on its path.
public struct RPCMethod: Sendable {
    public let name: String
    public let kind: CallKind
    public let handle: @Sendable (any RawRequestSource, any RawResponseSink, ServerContext) async throws -> Void

    public init(name: String, kind: CallKind,
                handle: @escaping @Sendable (any RawRequestSource, any RawResponseSink, ServerContext) async throws -> Void) {
        self.name = name
        self.kind = kind
        self.handle = handle
    }

    public static func unary<Req: ProtoMessage, Res: ProtoMessage>(
        _ name: String, _ req: Req.Type, _ res: Res.Type,
        _ body: @escaping @Sendable (Req, ServerContext) async throws -> Res
    ) -> RPCMethod {
        RPCMethod(name: name, kind: .unary) { source, sink, context in
            let request = try await singleRequest(Req.self, source)
            try await sink.write(try await body(request, context).serializedBytes())
        }
    }

    public static func serverStreaming<Req: ProtoMessage, Res: ProtoMessage>(
        _ name: String, _ req: Req.Type, _ res: Res.Type,
        _ body: @escaping @Sendable (Req, ResponseWriter<Res>, ServerContext) async throws -> Void
    ) -> RPCMethod {
        RPCMethod(name: name, kind: .serverStreaming) { source, sink, context in
            let request = try await singleRequest(Req.self, source)
            try await body(request, ResponseWriter(sink: sink), context)
        }
    }

    public static func clientStreaming<Req: ProtoMessage, Res: ProtoMessage>(
        _ name: String, _ req: Req.Type, _ res: Res.Type,
        _ body: @escaping @Sendable (RequestStream<Req>, ServerContext) async throws -> Res
    ) -> RPCMethod {
        RPCMethod(name: name, kind: .clientStreaming) { source, sink, context in
            try await sink.write(try await body(RequestStream(source: source), context).serializedBytes())
        }
    }

    public static func bidirectional<Req: ProtoMessage, Res: ProtoMessage>(
        _ name: String, _ req: Req.Type, _ res: Res.Type,
        _ body: @escaping @Sendable (RequestStream<Req>, ResponseWriter<Res>, ServerContext) async throws -> Void
    ) -> RPCMethod {
        RPCMethod(name: name, kind: .bidirectional) { source, sink, context in
            try await body(RequestStream(source: source), ResponseWriter(sink: sink), context)
        }
    }

    /// A unary or server-streaming call carries exactly one request message.
    static func singleRequest<Req: ProtoMessage>(_ type: Req.Type, _ source: any RawRequestSource) async throws -> Req {
        guard let first = try await source.next() else {
            throw RPCError(.invalidArgument, "the call needs one request message and the client sent none")
        }
        if try await source.next() != nil {
            throw RPCError(.invalidArgument, "the call takes one request message and the client sent more")
        }
        return try decodeRequest(Req.self, first)
    }
}

/// A service's name and methods: what generated `…Handler` protocols hand to a server.
public struct RPCServiceDefinition: Sendable {
    /// Fully qualified, e.g. `crm.leads.v1.LeadService`.
    public let name: String
    public let methods: [RPCMethod]

    public init(name: String, methods: [RPCMethod]) {
        self.name = name
        self.methods = methods
    }
}

/// Anything a server can host.
public protocol RPCService: Sendable {
    var serviceDefinition: RPCServiceDefinition { get }
}

/// Runs before every handler (authentication, identity); throwing rejects the call with that status.
public protocol ServerInterceptor: Sendable {
    func intercept(_ context: ServerContext, method: RPCMethod) async throws
}
