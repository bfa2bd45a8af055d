import ProtoWire

/// Per-call settings of a client call.
public struct CallOptions: Sendable {
    /// Sent as `grpc-timeout`; the call fails with DEADLINE_EXCEEDED once it passes.
    public var timeout: Duration?
    public var metadata: Metadata

    public init(timeout: Duration? = nil, metadata: Metadata = Metadata()) {
        self.timeout = timeout
        self.metadata = metadata
    }
}

/// One call in flight, as raw message bytes. The transport implements it.
public protocol RPCClientCall: Sendable {
    func send(_ message: [UInt8]) async throws
    /// Half-closes the request side.
    func finishSending() async throws
    /// The next response message, nil after an OK status; throws ``RPCError`` for any other status.
    func receive() async throws -> [UInt8]?
    /// Response headers (waits for them).
    func initialMetadata() async throws -> Metadata
    /// Trailers (waits for the end of the call).
    func trailingMetadata() async -> Metadata
    func cancel()
    /// Sends the one request of a unary or server-streaming call and half-closes, in one step.
    func sendLast(_ message: [UInt8]) async throws
}

extension RPCClientCall {
    public func sendLast(_ message: [UInt8]) async throws {
        try await send(message)
        try await finishSending()
    }
}

/// A client's connection to one target: the seam generated clients depend on.
public protocol RPCChannel: Sendable {
    func makeCall(path: String, options: CallOptions) async throws -> any RPCClientCall
}

extension RPCChannel {
    public func unary<Req: ProtoMessage, Res: ProtoMessage>(
        _ path: String, _ request: Req, options: CallOptions = CallOptions()
    ) async throws -> Res {
        let call = try await makeCall(path: path, options: options)
        try await call.sendLast(request.serializedBytes())
        return try await singleResponse(call)
    }

    public func serverStreaming<Req: ProtoMessage, Res: ProtoMessage>(
        _ path: String, _ request: Req, options: CallOptions = CallOptions()
    ) async throws -> ResponseStream<Res> {
        let call = try await makeCall(path: path, options: options)
        try await call.sendLast(request.serializedBytes())
        return ResponseStream(call: call)
    }

    public func clientStreaming<Req: ProtoMessage, Res: ProtoMessage>(
        _ path: String, options: CallOptions = CallOptions(),
        requests: (RequestSender<Req>) async throws -> Void
    ) async throws -> Res {
        let call = try await makeCall(path: path, options: options)
        do {
            try await requests(RequestSender(call: call))
            try await call.finishSending()
        } catch {
            // The server may have ended the call early; its status says more than our send error.
            do {
                while try await call.receive() != nil {}
            } catch let status as RPCError {
                throw status
            }
            call.cancel()
            throw error
        }
        return try await singleResponse(call)
    }

    public func bidirectional<Req: ProtoMessage, Res: ProtoMessage>(
        _ path: String, options: CallOptions = CallOptions()
    ) async throws -> BidirectionalCall<Req, Res> {
        BidirectionalCall(call: try await makeCall(path: path, options: options))
    }
}

private func singleResponse<Res: ProtoMessage>(_ call: any RPCClientCall) async throws -> Res {
    guard let bytes = try await call.receive() else {
        throw RPCError(.internal, "server closed the call with OK and no response message")
    }
    let response = try decodeResponse(Res.self, bytes)
    while try await call.receive() != nil {}
    return response
}

func decodeResponse<M: ProtoMessage>(_ type: M.Type, _ bytes: [UInt8]) throws -> M {
    do {
        return try M(serializedBytes: bytes)
    } catch let error as ProtoDecodingError {
        throw RPCError(.internal, "response \(M.protoMessageName): \(error)")
    }
}

/// Sends the request messages of a client-streaming call.
public struct RequestSender<Message: ProtoMessage>: Sendable {
    let call: any RPCClientCall
    public func send(_ message: Message) async throws {
        try await call.send(message.serializedBytes())
    }
}

/// Response messages of a streaming call; iteration throws ``RPCError`` if the status is not OK.
public struct ResponseStream<Message: ProtoMessage>: AsyncSequence, Sendable {
    public typealias Element = Message
    public let call: any RPCClientCall

    public struct AsyncIterator: AsyncIteratorProtocol {
        let call: any RPCClientCall
        public mutating func next() async throws -> Message? {
            guard let bytes = try await call.receive() else { return nil }
            return try decodeResponse(Message.self, bytes)
        }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(call: call) }
    public func initialMetadata() async throws -> Metadata { try await call.initialMetadata() }
    public func trailingMetadata() async -> Metadata { await call.trailingMetadata() }
    public func cancel() { call.cancel() }
}

/// A bidirectional call: send and receive independently, then finish.
public struct BidirectionalCall<Req: ProtoMessage, Res: ProtoMessage>: Sendable {
    public let call: any RPCClientCall
    public var responses: ResponseStream<Res> { ResponseStream(call: call) }

    public func send(_ message: Req) async throws { try await call.send(message.serializedBytes()) }
    public func finish() async throws { try await call.finishSending() }
    public func cancel() { call.cancel() }
}
