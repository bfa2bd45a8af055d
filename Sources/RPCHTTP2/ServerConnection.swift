import CNGHTTP2
import NIOCore
import RPCCore
import Synchronization

/// Everything the server knows about one request stream. Confined to the connection's event loop.
final class ServerStream {
    let id: Int32
    /// The request headers the transport acts on, parsed as they arrive; the application's own
    /// headers go to `metadata`.
    var isPost = false
    var path = ""
    var contentType = ""
    var timeout: String?
    var encoding: String?
    var metadata = Metadata()
    var deframer: MessageDeframer
    /// Complete request messages the handler has not taken yet.
    var inbound: [[UInt8]] = []
    var inboundHead = 0
    var inboundBytes = 0
    /// Received bytes whose flow-control credit is held back until the handler catches up.
    var unconsumed = 0
    var remoteEnded = false
    var inboundFailure: RPCError?
    var readWaiter: CheckedContinuation<[UInt8]?, any Error>?

    var dispatched = false
    /// Set for a request served by `Router.plainHandler`: its body so far.
    var plainBody: [UInt8]?
    var plainDeadline: ContinuousClock.Instant?
    /// Set at dispatch; the handler task starts once the current read is processed, so a unary
    /// request that arrived in the same read is handed over without another event-loop hop.
    var pendingStart: (@Sendable (ServerStreamIO) async -> Void)?
    var io: ServerStreamIO?
    var task: Task<Void, Never>?
    var context: ServerContext?
    var responseStarted = false
    var finished = false
    var deadlineTimer: Scheduled<Void>?
    var started = ContinuousClock.now
    /// Answered before the client finished sending: request bytes discarded since, and the timer
    /// that resets the stream if the client takes too long to finish.
    var lingeredBytes = 0
    var lingerTimer: Scheduled<Void>?

    init(id: Int32, maxMessageSize: Int) {
        self.id = id
        deframer = MessageDeframer(maxMessageSize: maxMessageSize)
    }

    var hasQueuedMessage: Bool { inboundHead < inbound.count }
}

/// One HTTP/2 connection of the server: feeds socket bytes to nghttp2, dispatches each request
/// stream to its handler in a task, and writes what handlers produce.
///
/// `@unchecked Sendable` because handler tasks hold a reference to it; every mutable field is
/// touched only on `eventLoop` (tasks hop there with `execute`).
final class ServerConnectionHandler: ChannelInboundHandler, H2SessionDelegate, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    let router: Router
    let configuration: RPCServerConfiguration
    let eventLoop: any EventLoop
    private var channelContext: ChannelHandlerContext?
    private var session: H2Session!
    private var streams: [Int32: ServerStream] = [:]
    private var flushScheduled = false
    /// Inside `channelRead`, which flushes when it is done: nothing needs scheduling meanwhile.
    private var reading = false
    private var draining = false
    private var closed = false
    private var peer = ""
    /// Called once when the connection is gone, so the server can forget it.
    var onClose: (() -> Void)?

    init(router: Router, configuration: RPCServerConfiguration, eventLoop: any EventLoop) {
        self.router = router
        self.configuration = configuration
        self.eventLoop = eventLoop
        handlerExecutor = EventLoopTaskExecutor(eventLoop)
    }

    /// Where handler tasks run: this connection's event loop.
    let handlerExecutor: EventLoopTaskExecutor


    // MARK: Channel events

    func handlerAdded(context: ChannelHandlerContext) {
        channelContext = context
        peer = context.channel.remoteAddress?.description ?? "unknown"
        session = H2Session(role: .server, delegate: self,
                            maxConcurrentStreams: configuration.maxConcurrentStreams,
                            initialWindow: configuration.initialWindowSize,
                            resetBurst: configuration.streamResetBurst,
                            resetRate: configuration.streamResetRate)
        // Writes before the channel is active are dropped; the SETTINGS frame must not be.
        if context.channel.isActive { flushNow() }
    }

    func channelActive(context: ChannelHandlerContext) {
        flushNow()
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        reading = true
        let ok = buffer.withUnsafeReadableBytes { session.receive($0) }
        startPendingHandlers()
        reading = false
        flushNow()
        if !ok { close() }
    }

    func channelInactive(context: ChannelHandlerContext) {
        tearDown()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        close()
    }

    private func close() {
        guard !closed else { return }
        closed = true
        channelContext?.close(promise: nil)
        tearDown()
    }

    private func tearDown() {
        closed = true
        for stream in streams.values { abandon(stream, RPCError(.cancelled, "connection closed")) }
        streams.removeAll()
        if let onClose { self.onClose = nil; onClose() }
    }

    // MARK: Output

    private func flushNow() {
        guard let context = channelContext, !closed else { return }
        let (bytes, ok) = session.drainOutput(context.channel.allocator)
        if let bytes { context.writeAndFlush(wrapOutboundOut(bytes), promise: nil) }
        if !ok { close(); return }
        if draining, streams.isEmpty, !closed {
            close()
        } else if !session.wantsIO, !closed {
            close()
        }
    }

    /// Coalesces the flushes of many handler writes into one pass over the session.
    private func scheduleFlush() {
        guard !flushScheduled, !reading else { return }
        flushScheduled = true
        eventLoop.execute {
            self.flushScheduled = false
            self.flushNow()
        }
    }

    // MARK: H2SessionDelegate

    func sessionBeginHeaders(stream id: Int32) {
        if let existing = streams[id], existing.dispatched { return }  // trailers from the client
        streams[id] = ServerStream(id: id, maxMessageSize: configuration.maxReceiveMessageSize)
    }

    func sessionHeader(stream id: Int32, name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) {
        guard let stream = streams[id], !stream.dispatched, let first = name.first else { return }
        if first == UInt8(ascii: ":") {
            if name.equals(":path") {
                stream.path = String(decoding: value, as: UTF8.self)
            } else if name.equals(":method") {
                stream.isPost = value.equals("POST")
            }
        } else if name.equals("content-type") {
            stream.contentType = String(decoding: value, as: UTF8.self)
        } else if name.equals("grpc-timeout") {
            stream.timeout = String(decoding: value, as: UTF8.self)
        } else if name.equals("grpc-encoding") {
            stream.encoding = String(decoding: value, as: UTF8.self)
        } else if name.equals("te") || name.equals("user-agent") || name.equals("accept-encoding")
                    || name.equals("content-length") {
            return  // sent with nearly every request, never the application's
        } else {
            let key = String(decoding: name, as: UTF8.self)
            guard !Metadata.isReserved(key),
                  let parsed = GRPCWire.metadataValue(key: key, rawValue: String(decoding: value, as: UTF8.self))
            else { return }
            stream.metadata.add(lowercasedKey: key, parsed)
        }
    }

    func sessionHeadersComplete(stream id: Int32, endStream: Bool) {
        guard let stream = streams[id] else { return }
        if !stream.dispatched { dispatch(stream) }
        if endStream { remoteEnded(stream) }
    }

    func sessionData(stream id: Int32, bytes: UnsafeRawBufferPointer) {
        guard let stream = streams[id], stream.inboundFailure == nil, !stream.finished else {
            session.consume(stream: id, bytes: bytes.count)
            if let stream = streams[id], stream.finished { linger(stream, discarded: bytes.count) }
            return
        }
        if stream.plainBody != nil {
            session.consume(stream: id, bytes: bytes.count)
            scheduleFlush()
            guard stream.plainBody!.count + bytes.count <= configuration.maxReceiveMessageSize else {
                stream.plainBody = []
                let message = "request body exceeds the limit of \(configuration.maxReceiveMessageSize) bytes"
                return answerPlain(stream, PlainResponse(
                    status: 413, headers: [("content-type", "application/json"),
                                           ("grpc-status", "\(StatusCode.resourceExhausted.rawValue)"),
                                           ("grpc-message", GRPCWire.percentEncode(message))],
                    body: Array("{\"code\":\"RESOURCE_EXHAUSTED\",\"message\":\"\(message)\"}".utf8)))
            }
            stream.plainBody!.append(contentsOf: bytes)
            return
        }
        stream.unconsumed += bytes.count
        stream.deframer.append(bytes)
        do {
            while let message = try stream.deframer.next() {
                stream.inbound.append(message)
                stream.inboundBytes += message.count
            }
        } catch {
            failInbound(stream, error)
            return
        }
        deliver(stream)
        creditIfRoom(stream)
    }

    func sessionRemoteEnd(stream id: Int32) {
        guard let stream = streams[id] else { return }
        remoteEnded(stream)
    }

    func sessionStreamClosed(stream id: Int32, errorCode: UInt32) {
        guard let stream = streams.removeValue(forKey: id) else { return }
        stream.lingerTimer?.cancel()
        if !stream.finished {
            // The client reset the stream (cancelled) before we answered.
            abandon(stream, RPCError(.cancelled, "client cancelled the call"))
            report(stream, .cancelled, "client cancelled the call")
        }
        if draining, streams.isEmpty { scheduleFlush() }
    }

    func sessionSentEndStream(stream id: Int32) {
        guard let stream = streams[id], !session.isRemoteClosed(id) else { return }
        // We answered before the client finished sending. RFC 9113 §8.1 allows a RST_STREAM
        // (NO_ERROR) at once, but clients still uploading (curl 7.x) then drop the answer, so
        // the rest of the body is read and discarded for a while first, as HTTP/1 servers linger.
        stream.lingerTimer = eventLoop.scheduleTask(in: Self.lingerTime) { [weak self] in
            self?.stopLingering(id)
        }
    }

    /// How long, and for how many bytes, an early-answered request may go on sending.
    static let lingerTime: TimeAmount = .seconds(2)
    private var lingerLimit: Int { 2 * configuration.maxReceiveMessageSize }

    private func linger(_ stream: ServerStream, discarded: Int) {
        stream.lingeredBytes += discarded
        if stream.lingeredBytes > lingerLimit { stopLingering(stream.id) }
    }

    private func stopLingering(_ id: Int32) {
        guard let stream = streams[id], !session.isRemoteClosed(id) else { return }
        stream.lingerTimer?.cancel()
        stream.lingerTimer = nil
        session.resetStream(id, errorCode: NGHTTP2_NO_ERROR)
        scheduleFlush()
    }

    func sessionGoAway(lastStreamID: Int32, errorCode: UInt32) {}

    // MARK: Dispatch

    private func dispatch(_ stream: ServerStream) {
        stream.dispatched = true
        stream.started = .now
        guard stream.isPost else {
            return rejectHTTP(stream, status: "405", code: .unimplemented, "gRPC calls use POST")
        }
        let contentType = stream.contentType
        if !contentType.hasPrefix("application/grpc"), router.plainHandler != nil {
            stream.plainBody = []
            if let timeout = stream.timeout, let nanos = GRPCWire.parseTimeout(timeout) {
                stream.plainDeadline = .now + .nanoseconds(nanos)
            }
            return
        }
        guard contentType.hasPrefix("application/grpc") else {
            return rejectHTTP(stream, status: "415", code: .unknown, "content-type must be application/grpc")
        }
        if let encoding = stream.encoding, encoding != "identity" {
            return finish(stream, RPCError(.unimplemented, "grpc-encoding \(encoding) is not supported (identity only)"))
        }
        var deadline: ContinuousClock.Instant?
        if let timeout = stream.timeout {
            guard let nanos = GRPCWire.parseTimeout(timeout) else {
                return finish(stream, RPCError(.invalidArgument, "grpc-timeout '\(timeout)' is malformed"))
            }
            deadline = .now + .nanoseconds(nanos)
            let id = stream.id
            stream.deadlineTimer = eventLoop.scheduleTask(in: .nanoseconds(min(nanos, Int64.max / 2))) { [weak self] in
                self?.deadlineExceeded(id, timeout: timeout)
            }
        }
        let path = stream.path
        let method: RPCMethod
        switch router.resolve(path) {
        case .found(let m): method = m
        case .failure(let error): return finish(stream, error)
        }

        let context = ServerContext(path: path, requestMetadata: stream.metadata, deadline: deadline, peer: peer)
        stream.context = context
        let interceptors = router.interceptors
        let errorMapper = configuration.errorMapper
        stream.pendingStart = { io in
            var failure: RPCError?
            do {
                for interceptor in interceptors { try await interceptor.intercept(context, method: method) }
                try await method.handle(io, io, context)
            } catch {
                failure = (error as? RPCError) ?? errorMapper?(error) ?? RPCError.from(error)
            }
            io.finish(failure)
        }
        pendingStarts.append(stream)
    }

    private var pendingStarts: [ServerStream] = []

    /// Starts the handlers of streams dispatched during the last read, giving each the messages
    /// (and end of stream) that already arrived.
    private func startPendingHandlers() {
        guard !pendingStarts.isEmpty else { return }
        let starting = pendingStarts
        pendingStarts = []
        for stream in starting {
            guard let start = stream.pendingStart, !stream.finished, streams[stream.id] === stream else { continue }
            stream.pendingStart = nil
            var prefetched: [[UInt8]] = []
            while stream.hasQueuedMessage { prefetched.append(takeQueued(stream)) }
            let io = ServerStreamIO(connection: self, streamID: stream.id, prefetched: prefetched,
                                    ended: stream.remoteEnded)
            stream.io = io
            stream.task = startTask { await start(io) }
        }
    }

    /// Starts a handler task on this connection's event loop. It runs at once, inline, until it
    /// first suspends: a handler that does not (health, a point read) has answered before this
    /// returns, with no job queued and no extra pass of the loop.
    private func startTask(_ body: sending @escaping @isolated(any) () async -> Void) -> Task<Void, Never> {
        if #available(macOS 26, *) {
            return Task.immediate(executorPreference: handlerExecutor, operation: body)
        }
        return Task(executorPreference: handlerExecutor, operation: body)
    }

    /// Answers a request that is not gRPC at all with a plain HTTP status (plus gRPC status).
    private func rejectHTTP(_ stream: ServerStream, status: String, code: StatusCode, _ message: String) {
        stream.finished = true
        session.submitResponse(stream: stream.id, headers: .list([
            (":status", status), ("content-type", "application/grpc"),
            ("grpc-status", "\(code.rawValue)"), ("grpc-message", GRPCWire.percentEncode(message)),
        ]), withBody: false)
        report(stream, code, message)
    }

    // MARK: Plain (non-gRPC) requests

    /// The whole body is in: run the plain handler in a task and answer with what it returns.
    private func startPlain(_ stream: ServerStream) {
        guard let handler = router.plainHandler, let body = stream.plainBody, !stream.finished, stream.task == nil else { return }
        let request = PlainRequest(path: stream.path, contentType: stream.contentType,
                                   metadata: stream.metadata, body: body, deadline: stream.plainDeadline,
                                   peer: peer, router: router)
        stream.plainBody = []
        let id = stream.id
        stream.task = Task(executorPreference: handlerExecutor) {
            let response = await handler(request)
            self.eventLoop.runOnLoop {
                guard let stream = self.streams[id] else { return }
                self.answerPlain(stream, response)
                self.flushNow()
            }
        }
    }

    private func answerPlain(_ stream: ServerStream, _ response: PlainResponse) {
        guard !stream.finished else { return }
        stream.finished = true
        var headers = [(":status", "\(response.status)")]
        headers.append(contentsOf: response.headers)
        if response.body.isEmpty {
            session.submitResponse(stream: stream.id, headers: .list(headers), withBody: false)
        } else {
            session.submitResponse(stream: stream.id, headers: .list(headers), withBody: true)
            session.appendBody(stream: stream.id, response.body)
            session.finishBody(stream: stream.id, trailers: nil)
        }
        let code = response.headers.first { $0.0 == "grpc-status" }.map { StatusCode(wireValue: $0.1) }
            ?? (response.status == 200 ? .ok : .unknown)
        report(stream, code, response.headers.first { $0.0 == "grpc-message" }?.1 ?? "")
        scheduleFlush()
    }

    private func deadlineExceeded(_ id: Int32, timeout: String) {
        guard let stream = streams[id], !stream.finished else { return }
        stream.task?.cancel()
        finish(stream, RPCError(.deadlineExceeded, "deadline of \(timeout) exceeded"))
        scheduleFlush()
    }

    // MARK: Inbound messages

    private func remoteEnded(_ stream: ServerStream) {
        stream.remoteEnded = true
        if stream.plainBody != nil { return startPlain(stream) }
        do {
            try stream.deframer.finish()
        } catch {
            failInbound(stream, error)
            return
        }
        deliver(stream)
    }

    private func failInbound(_ stream: ServerStream, _ error: MessageDeframer.Failure) {
        let status: RPCError
        switch error {
        case .tooLarge(let length, let limit):
            status = RPCError(.resourceExhausted, "request message of \(length) bytes exceeds the limit of \(limit) bytes")
        case .compressedWithoutEncoding:
            status = RPCError(.internal, "compressed message received but no grpc-encoding was negotiated")
        case .truncated:
            status = RPCError(.invalidArgument, "request stream ended in the middle of a message")
        }
        stream.inboundFailure = status
        session.consume(stream: stream.id, bytes: stream.unconsumed)
        stream.unconsumed = 0
        stream.task?.cancel()
        finish(stream, status)
    }

    /// Hands the next queued message (or the end) to a waiting handler.
    private func deliver(_ stream: ServerStream) {
        guard let waiter = stream.readWaiter else { return }
        if stream.hasQueuedMessage {
            stream.readWaiter = nil
            waiter.resume(returning: takeQueued(stream))
        } else if stream.remoteEnded {
            stream.readWaiter = nil
            waiter.resume(returning: nil)
        }
    }

    private func takeQueued(_ stream: ServerStream) -> [UInt8] {
        let message = stream.inbound[stream.inboundHead]
        stream.inbound[stream.inboundHead] = []
        stream.inboundHead += 1
        stream.inboundBytes -= message.count
        if stream.inboundHead == stream.inbound.count {
            stream.inbound.removeAll(keepingCapacity: true)
            stream.inboundHead = 0
        }
        creditIfRoom(stream)
        return message
    }

    /// Gives the peer more window only while the handler keeps up, so a slow reader pushes back.
    private func creditIfRoom(_ stream: ServerStream) {
        if stream.inboundBytes < configuration.initialWindowSizeInt, stream.unconsumed > 0 {
            session.consume(stream: stream.id, bytes: stream.unconsumed)
            stream.unconsumed = 0
            scheduleFlush()
        }
    }

    func takeMessage(_ id: Int32, _ continuation: CheckedContinuation<[UInt8]?, any Error>) {
        guard let stream = streams[id] else {
            return continuation.resume(throwing: RPCError(.cancelled, "call is over"))
        }
        if let failure = stream.inboundFailure { return continuation.resume(throwing: failure) }
        if stream.hasQueuedMessage { return continuation.resume(returning: takeQueued(stream)) }
        if stream.remoteEnded { return continuation.resume(returning: nil) }
        if stream.finished { return continuation.resume(throwing: RPCError(.cancelled, "call is over")) }
        stream.readWaiter = continuation
    }

    // MARK: Outbound messages

    func writeMessage(_ id: Int32, _ message: [UInt8], _ continuation: CheckedContinuation<Void, any Error>?) {
        guard let stream = streams[id], !stream.finished else {
            continuation?.resume(throwing: RPCError(.cancelled, "call is over"))
            return
        }
        if !stream.responseStarted {
            stream.responseStarted = true
            session.submitResponse(stream: id, headers: responseHeaders(stream), withBody: true)
        }
        session.appendMessage(stream: id, message)
        if let continuation {
            if let body = session.bodies[id], body.pending >= session.highWater {
                body.drainWaiters.append(continuation)
            } else {
                continuation.resume()
            }
        }
        scheduleFlush()
    }

    private func responseHeaders(_ stream: ServerStream) -> HeaderFields {
        let metadata = stream.context?.initialMetadata ?? Metadata()
        if metadata.isEmpty { return .fixed(.grpcResponse) }
        return .list(responseHeaderList(metadata))
    }

    private func responseHeaderList(_ metadata: Metadata) -> [(String, String)] {
        var headers = FixedHeaders.grpcResponseFields
        for (key, value) in metadata where !Metadata.isReserved(key) {
            headers.append((key, GRPCWire.headerValue(value)))
        }
        return headers
    }

    /// Ends the call with `failure`'s status, or OK.
    func finish(_ id: Int32, _ failure: RPCError?) {
        guard let stream = streams[id] else { return }
        finish(stream, failure)
        scheduleFlush()
    }

    private func finish(_ stream: ServerStream, _ failure: RPCError?) {
        guard !stream.finished else { return }
        stream.finished = true
        stream.deadlineTimer?.cancel()
        if let waiter = stream.readWaiter {
            stream.readWaiter = nil
            waiter.resume(throwing: failure ?? RPCError(.cancelled, "call is over"))
        }
        let code = failure?.code ?? .ok
        let message = failure?.message ?? ""
        var trailing = stream.context?.trailingMetadata ?? Metadata()
        for (key, value) in failure?.trailers ?? Metadata() { trailing.add(key, value) }
        if stream.responseStarted, failure == nil, trailing.isEmpty {
            session.finishBody(stream: stream.id, trailers: .fixed(.grpcOK))
            return report(stream, code, message)
        }
        var trailers = [("grpc-status", "\(code.rawValue)")]
        if !message.isEmpty { trailers.append(("grpc-message", GRPCWire.percentEncode(message))) }
        for (key, value) in trailing where !Metadata.isReserved(key) {
            trailers.append((key, GRPCWire.headerValue(value)))
        }
        if stream.responseStarted {
            session.finishBody(stream: stream.id, trailers: .list(trailers))
        } else {
            // Trailers-Only: one HEADERS frame with the status ends the stream.
            stream.responseStarted = true
            let headers = responseHeaderList(stream.context?.initialMetadata ?? Metadata()) + trailers
            session.submitResponse(stream: stream.id, headers: .list(headers), withBody: false)
        }
        report(stream, code, message)
    }

    private func abandon(_ stream: ServerStream, _ error: RPCError) {
        stream.deadlineTimer?.cancel()
        stream.task?.cancel()
        if let waiter = stream.readWaiter {
            stream.readWaiter = nil
            waiter.resume(throwing: error)
        }
        session?.dropBody(stream: stream.id, error: error)
    }

    private func report(_ stream: ServerStream, _ code: StatusCode, _ message: String) {
        configuration.observer?.callFinished(
            path: stream.path, code: code, message: message,
            duration: ContinuousClock.now - stream.started, peer: peer)
    }

    // MARK: Shutdown

    /// Stops taking new streams, lets in-flight ones finish, then closes.
    func beginGracefulShutdown() {
        guard !draining, !closed else { return }
        draining = true
        session.submitShutdownNotice()
        flushNow()
        // One round trip later, name the last stream we will serve.
        eventLoop.scheduleTask(in: .milliseconds(100)) {
            guard !self.closed else { return }
            self.session.submitGoAway()
            self.flushNow()
        }
    }

    func forceClose() {
        close()
    }
}

/// The handler side of one stream. Messages that arrived before the handler started are handed
/// over directly; later ones, and responses, go through the connection's event loop (where the
/// handler task normally already runs). Small responses are queued without waiting; every
/// `syncEvery` bytes a write waits for the event loop, which is where backpressure (HTTP/2 flow
/// control) reaches the handler.
final class ServerStreamIO: RawRequestSource, RawResponseSink {
    let connection: ServerConnectionHandler
    let streamID: Int32
    private let local: Mutex<Local>
    static let syncEvery = 64 * 1024

    struct Local {
        var prefetched: [[UInt8]]
        var ended: Bool
        var unsyncedBytes = 0
    }

    init(connection: ServerConnectionHandler, streamID: Int32, prefetched: [[UInt8]], ended: Bool) {
        self.connection = connection
        self.streamID = streamID
        local = Mutex(Local(prefetched: prefetched.reversed(), ended: ended))
    }

    func next() async throws -> [UInt8]? {
        enum Local { case message([UInt8]), end, remote }
        let taken: Local = local.withLock { state in
            if let message = state.prefetched.popLast() { return .message(message) }
            return state.ended ? .end : .remote
        }
        switch taken {
        case .message(let message): return message
        case .end: return nil
        case .remote:
            return try await withCheckedThrowingContinuation { continuation in
                connection.eventLoop.runOnLoop { self.connection.takeMessage(self.streamID, continuation) }
            }
        }
    }

    func takeAllIfComplete() -> [[UInt8]]? {
        local.withLock { state in
            guard state.ended else { return nil }
            defer { state.prefetched = [] }
            return state.prefetched.reversed()
        }
    }

    func write(_ message: [UInt8]) async throws {
        try Task.checkCancellation()
        let mustSync = local.withLock { state -> Bool in
            state.unsyncedBytes += message.count
            if state.unsyncedBytes < Self.syncEvery { return false }
            state.unsyncedBytes = 0
            return true
        }
        if mustSync {
            try await withCheckedThrowingContinuation { continuation in
                connection.eventLoop.runOnLoop { self.connection.writeMessage(self.streamID, message, continuation) }
            }
        } else {
            connection.eventLoop.runOnLoop { self.connection.writeMessage(self.streamID, message, nil) }
        }
    }

    func finish(_ failure: RPCError?) {
        connection.eventLoop.runOnLoop { self.connection.finish(self.streamID, failure) }
    }
}

extension RPCError {
    /// The status a thrown error becomes on the wire.
    static func from(_ error: any Error) -> RPCError {
        switch error {
        case let e as RPCError: e
        case is CancellationError: RPCError(.cancelled, "call cancelled")
        case is RPCStreamClosed: RPCError(.cancelled, "call is over")
        default: RPCError(.internal, "internal error: \(String(describing: type(of: error)))")
        }
    }
}

extension UnsafeRawBufferPointer {
    /// Byte equality with an ASCII literal, without making a String.
    func equals(_ literal: StaticString) -> Bool {
        count == literal.utf8CodeUnitCount && literal.withUTF8Buffer { elementsEqual($0) }
    }
}
