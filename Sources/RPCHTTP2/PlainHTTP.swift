import RPCCore
import Synchronization

/// A request that is not gRPC (its content-type does not start with `application/grpc`), handed
/// whole to `Router.plainHandler` — e.g. the gateway's JSON transcoding.
public struct PlainRequest: Sendable {
    /// `/package.Service/Method` (whatever the client sent as `:path`).
    public let path: String
    public let contentType: String
    /// The request headers that are not reserved (pseudo-headers, content-type, grpc-*, …).
    public let metadata: Metadata
    /// The whole request body (at most `maxReceiveMessageSize` bytes; larger bodies get 413).
    public let body: [UInt8]
    /// From a `grpc-timeout` header, if the client sent one.
    public let deadline: ContinuousClock.Instant?
    public let peer: String
    /// The router that received the request, so the handler can run a method in-process with the
    /// same interceptors as a gRPC call (`callUnary`).
    public let router: Router

    public init(path: String, contentType: String, metadata: Metadata, body: [UInt8],
                deadline: ContinuousClock.Instant?, peer: String, router: Router) {
        self.path = path
        self.contentType = contentType
        self.metadata = metadata
        self.body = body
        self.deadline = deadline
        self.peer = peer
        self.router = router
    }
}

/// The answer to a `PlainRequest`: sent as response headers, then the body and END_STREAM (no trailers).
public struct PlainResponse: Sendable {
    public var status: Int
    /// Lower-case names; `content-type` included here.
    public var headers: [(String, String)]
    public var body: [UInt8]

    public init(status: Int, headers: [(String, String)] = [], body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }
}

/// The outcome of `Router.callUnary`.
public struct UnaryCallResult: Sendable {
    /// The response message, or nil when the call failed.
    public var response: [UInt8]?
    public var error: RPCError?
    public var initialMetadata: Metadata
    public var trailingMetadata: Metadata
}

extension Router {
    /// Runs `path` in-process as a unary call: the router's interceptors, then the method, exactly
    /// as for a gRPC request, with one request message; collects the one response message.
    public func callUnary(path: String, request: [UInt8], metadata: Metadata,
                          deadline: ContinuousClock.Instant?, peer: String) async -> UnaryCallResult {
        let context = ServerContext(path: path, requestMetadata: metadata, deadline: deadline, peer: peer)
        let sink = CollectingSink()
        var failure: RPCError?
        switch resolve(path) {
        case .failure(let error):
            failure = error
        case .found(let method):
            do {
                for interceptor in interceptors { try await interceptor.intercept(context, method: method) }
                try await method.handle(SingleMessageSource(message: request), sink, context)
            } catch {
                failure = RPCError.from(error)
            }
        }
        let messages = sink.messages.withLock { $0 }
        if failure == nil, messages.count != 1 {
            failure = RPCError(.internal, "a unary method answered with \(messages.count) messages")
        }
        return UnaryCallResult(response: failure == nil ? messages.first : nil, error: failure,
                               initialMetadata: context.initialMetadata, trailingMetadata: context.trailingMetadata)
    }
}

private final class SingleMessageSource: RawRequestSource {
    private let remaining: Mutex<[UInt8]?>
    init(message: [UInt8]) { remaining = Mutex(message) }
    func next() async throws -> [UInt8]? { remaining.withLock { value in defer { value = nil }; return value } }
    func takeAllIfComplete() -> [[UInt8]]? { remaining.withLock { value in defer { value = nil }; return value.map { [$0] } ?? [] } }
}

private final class CollectingSink: RawResponseSink {
    let messages = Mutex<[[UInt8]]>([])
    func write(_ message: [UInt8]) async throws { messages.withLock { $0.append(message) } }
}
