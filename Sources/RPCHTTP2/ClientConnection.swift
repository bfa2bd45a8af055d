import CNGHTTP2
import NIOCore
import RPCCore

/// One call's state on the client. Confined to the connection's event loop.
final class ClientStream {
    let id: Int32
    var deframer: MessageDeframer
    var inbound: [[UInt8]] = []
    var inboundHead = 0
    var inboundBytes = 0
    var unconsumed = 0
    var headerBlock: [(String, String)] = []
    var headersDone = false
    var initialMetadata = Metadata()
    var trailingMetadata = Metadata()
    /// Set once the call's outcome is known; nil status means OK.
    var ended = false
    var status: RPCError?
    var receiveWaiter: CheckedContinuation<[UInt8]?, any Error>?
    var headerWaiters: [CheckedContinuation<Metadata, any Error>] = []
    var endWaiters: [CheckedContinuation<Metadata, Never>] = []
    var deadlineTimer: Scheduled<Void>?

    init(id: Int32, maxMessageSize: Int) {
        self.id = id
        deframer = MessageDeframer(maxMessageSize: maxMessageSize)
    }

    var hasQueuedMessage: Bool { inboundHead < inbound.count }
}

/// A client HTTP/2 connection to one target, multiplexing calls as streams.
///
/// `@unchecked Sendable`: calls hold it from any task, but all state lives on `eventLoop`.
final class ClientConnectionHandler: ChannelInboundHandler, H2SessionDelegate, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    let eventLoop: any EventLoop
    let authority: String
    let maxReceiveMessageSize: Int
    let initialWindowSize = 1024 * 1024
    private var channelContext: ChannelHandlerContext?
    private var session: H2Session!
    private var streams: [Int32: ClientStream] = [:]
    private var flushScheduled = false
    /// No new calls once the peer said GOAWAY or the socket is gone.
    private(set) var isUsable = true
    private var closed = false
    var onUnusable: (() -> Void)?

    init(eventLoop: any EventLoop, authority: String, maxReceiveMessageSize: Int) {
        self.eventLoop = eventLoop
        self.authority = authority
        self.maxReceiveMessageSize = maxReceiveMessageSize
    }

    // MARK: Channel events

    func handlerAdded(context: ChannelHandlerContext) {
        channelContext = context
        session = H2Session(role: .client, delegate: self, maxConcurrentStreams: 1000,
                            initialWindow: UInt32(initialWindowSize), resetBurst: 1000, resetRate: 33)
        if context.channel.isActive { flushNow() }
    }

    func channelActive(context: ChannelHandlerContext) {
        flushNow()
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        let ok = buffer.withUnsafeReadableBytes { session.receive($0) }
        flushNow()
        if !ok { close(reason: "protocol error from server") }
    }

    func channelInactive(context: ChannelHandlerContext) {
        tearDown(reason: "connection to \(authority) closed")
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        close(reason: "connection to \(authority) failed: \(error)")
    }

    func close(reason: String) {
        guard !closed else { return }
        channelContext?.close(promise: nil)
        tearDown(reason: reason)
    }

    private func tearDown(reason: String) {
        closed = true
        markUnusable()
        for stream in streams.values { end(stream, RPCError(.unavailable, reason)) }
        streams.removeAll()
    }

    private func markUnusable() {
        guard isUsable else { return }
        isUsable = false
        onUnusable?()
        onUnusable = nil
    }

    private func flushNow() {
        guard let context = channelContext, !closed else { return }
        let (bytes, ok) = session.drainOutput(context.channel.allocator)
        if let bytes { context.writeAndFlush(wrapOutboundOut(bytes), promise: nil) }
        if !ok { close(reason: "HTTP/2 session to \(authority) failed") }
    }

    private func scheduleFlush() {
        guard !flushScheduled else { return }
        flushScheduled = true
        eventLoop.execute {
            self.flushScheduled = false
            self.flushNow()
        }
    }

    // MARK: Starting calls

    func startCall(path: String, options: CallOptions) throws -> Int32 {
        guard isUsable, !closed else { throw RPCError(.unavailable, "connection to \(authority) is closing") }
        var headers = [
            (":method", "POST"), (":scheme", "http"), (":path", path), (":authority", authority),
            ("content-type", "application/grpc"), ("te", "trailers"), ("user-agent", "crm-swift-rpc/1.0"),
        ]
        if let timeout = options.timeout {
            headers.append(("grpc-timeout", GRPCWire.encodeTimeout(nanoseconds: timeout.nanoseconds)))
        }
        for (key, value) in options.metadata where !Metadata.isReserved(key) {
            headers.append((key, GRPCWire.headerValue(value)))
        }
        let id = session.submitRequest(headers: headers)
        guard id > 0 else { throw RPCError(.unavailable, "cannot open a stream to \(authority) (nghttp2 error \(id))") }
        let stream = ClientStream(id: id, maxMessageSize: maxReceiveMessageSize)
        streams[id] = stream
        if let timeout = options.timeout {
            // A little grace (a tenth of the timeout, 20 ms to 1 s) so that the server's own
            // DEADLINE_EXCEEDED, which says what ran out, normally wins the race with our timer.
            let grace = min(max(timeout / 10, .milliseconds(20)), .seconds(1))
            stream.deadlineTimer = eventLoop.scheduleTask(in: .nanoseconds((timeout + grace).nanoseconds)) { [weak self] in
                self?.expire(id)
            }
        }
        scheduleFlush()
        return id
    }

    private func expire(_ id: Int32) {
        guard let stream = streams[id], !stream.ended else { return }
        session.resetStream(id, errorCode: NGHTTP2_CANCEL)
        end(stream, RPCError(.deadlineExceeded, "deadline exceeded before the server answered"))
        scheduleFlush()
    }

    // MARK: Call operations (on the event loop)

    func send(_ id: Int32, _ message: [UInt8], _ continuation: CheckedContinuation<Void, any Error>?) {
        guard let stream = streams[id], !stream.ended, session.bodies[id] != nil else {
            // The call is over (the server may have answered early): like grpc-go, the message is
            // dropped and the caller learns the real status from receive().
            continuation?.resume()
            return
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

    func finishSending(_ id: Int32) {
        session.finishBody(stream: id, trailers: nil)
        scheduleFlush()
    }

    func receive(_ id: Int32, _ continuation: CheckedContinuation<[UInt8]?, any Error>) {
        guard let stream = streams[id] ?? finishedStreams[id] else {
            return continuation.resume(throwing: RPCError(.cancelled, "call already ended"))
        }
        if stream.hasQueuedMessage { return continuation.resume(returning: takeQueued(stream)) }
        if stream.ended {
            if let status = stream.status { return continuation.resume(throwing: status) }
            return continuation.resume(returning: nil)
        }
        stream.receiveWaiter = continuation
    }

    func initialMetadata(_ id: Int32, _ continuation: CheckedContinuation<Metadata, any Error>) {
        guard let stream = streams[id] ?? finishedStreams[id] else {
            return continuation.resume(throwing: RPCError(.cancelled, "call already ended"))
        }
        if stream.headersDone { return continuation.resume(returning: stream.initialMetadata) }
        if stream.ended { return continuation.resume(throwing: stream.status ?? RPCError(.internal, "no headers")) }
        stream.headerWaiters.append(continuation)
    }

    func trailingMetadata(_ id: Int32, _ continuation: CheckedContinuation<Metadata, Never>) {
        guard let stream = streams[id] ?? finishedStreams[id] else { return continuation.resume(returning: Metadata()) }
        if stream.ended { return continuation.resume(returning: stream.trailingMetadata) }
        stream.endWaiters.append(continuation)
    }

    func cancel(_ id: Int32) {
        guard let stream = streams[id], !stream.ended else { return }
        session.resetStream(id, errorCode: NGHTTP2_CANCEL)
        end(stream, RPCError(.cancelled, "call cancelled by the client"))
        scheduleFlush()
    }

    /// The call object is gone: forget the stream (and reset it if it is somehow still open).
    func release(_ id: Int32) {
        finishedStreams[id] = nil
        if let stream = streams[id], !stream.ended {
            session.resetStream(id, errorCode: NGHTTP2_CANCEL)
            end(stream, RPCError(.cancelled, "call abandoned"))
            finishedStreams[id] = nil
            scheduleFlush()
        }
    }

    /// Ended calls whose last messages or status the caller has not read yet.
    private var finishedStreams: [Int32: ClientStream] = [:]

    private func takeQueued(_ stream: ClientStream) -> [UInt8] {
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

    private func creditIfRoom(_ stream: ClientStream) {
        if stream.inboundBytes < initialWindowSize, stream.unconsumed > 0, streams[stream.id] != nil {
            session.consume(stream: stream.id, bytes: stream.unconsumed)
            stream.unconsumed = 0
            scheduleFlush()
        }
    }

    /// Records the outcome and wakes everyone waiting; queued messages stay readable.
    private func end(_ stream: ClientStream, _ status: RPCError?) {
        guard !stream.ended else { return }
        stream.ended = true
        stream.status = status
        stream.deadlineTimer?.cancel()
        if let waiter = stream.receiveWaiter {
            stream.receiveWaiter = nil
            if stream.hasQueuedMessage {
                waiter.resume(returning: takeQueued(stream))
            } else if let status {
                waiter.resume(throwing: status)
            } else {
                waiter.resume(returning: nil)
            }
        }
        for waiter in stream.headerWaiters {
            if stream.headersDone { waiter.resume(returning: stream.initialMetadata) }
            else { waiter.resume(throwing: status ?? RPCError(.internal, "call ended without headers")) }
        }
        stream.headerWaiters = []
        for waiter in stream.endWaiters { waiter.resume(returning: stream.trailingMetadata) }
        stream.endWaiters = []
        // Kept until the call object goes away, so late readers still see messages and status.
        finishedStreams[stream.id] = stream
        session.dropBody(stream: stream.id, error: status ?? RPCError(.cancelled, "call already ended"))
    }

    // MARK: H2SessionDelegate

    func sessionBeginHeaders(stream id: Int32) {
        streams[id]?.headerBlock = []
    }

    func sessionHeader(stream id: Int32, name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) {
        streams[id]?.headerBlock.append((String(decoding: name, as: UTF8.self), String(decoding: value, as: UTF8.self)))
    }

    func sessionHeadersComplete(stream id: Int32, endStream: Bool) {
        guard let stream = streams[id] else { return }
        let block = stream.headerBlock
        stream.headerBlock = []
        let isFirstBlock = !stream.headersDone
        if isFirstBlock {
            stream.headersDone = true
            stream.initialMetadata = metadata(of: block)
            for waiter in stream.headerWaiters { waiter.resume(returning: stream.initialMetadata) }
            stream.headerWaiters = []
            let httpStatus = block.first { $0.0 == ":status" }?.1 ?? ""
            if httpStatus != "200", !block.contains(where: { $0.0 == "grpc-status" }) {
                end(stream, RPCError(Self.codeForHTTPStatus(httpStatus), "HTTP status \(httpStatus) from \(authority)"))
                return
            }
        }
        guard endStream else { return }
        // Trailers (or Trailers-Only, when this is the first block).
        stream.trailingMetadata = metadata(of: block)
        end(stream, status(of: block))
    }

    func sessionData(stream id: Int32, bytes: UnsafeRawBufferPointer) {
        guard let stream = streams[id], !stream.ended else {
            session.consume(stream: id, bytes: bytes.count)
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
            let status: RPCError
            switch error {
            case .tooLarge(let length, let limit):
                status = RPCError(.resourceExhausted, "response message of \(length) bytes exceeds the limit of \(limit) bytes")
            case .compressedWithoutEncoding:
                status = RPCError(.internal, "compressed response without grpc-encoding")
            case .truncated:
                status = RPCError(.internal, "response ended in the middle of a message")
            }
            session.consume(stream: id, bytes: stream.unconsumed)
            stream.unconsumed = 0
            session.resetStream(id, errorCode: NGHTTP2_CANCEL)
            end(stream, status)
            return
        }
        if let waiter = stream.receiveWaiter, stream.hasQueuedMessage {
            stream.receiveWaiter = nil
            waiter.resume(returning: takeQueued(stream))
        }
        creditIfRoom(stream)
    }

    func sessionRemoteEnd(stream id: Int32) {
        // END_STREAM on DATA: the server never sent trailers, which gRPC requires.
        guard let stream = streams[id], !stream.ended else { return }
        end(stream, RPCError(.internal, "server ended the stream without a grpc-status"))
    }

    func sessionStreamClosed(stream id: Int32, errorCode: UInt32) {
        guard let stream = streams.removeValue(forKey: id) else { return }
        if !stream.ended {
            end(stream, Self.statusForReset(errorCode))
        }
    }

    func sessionSentEndStream(stream id: Int32) {}

    func sessionGoAway(lastStreamID: Int32, errorCode: UInt32) {
        markUnusable()
    }

    // MARK: Status mapping

    private func metadata(of block: [(String, String)]) -> Metadata {
        var metadata = Metadata()
        for (name, value) in block where !Metadata.isReserved(name) {
            if let parsed = GRPCWire.metadataValue(key: name, rawValue: value) { metadata.add(name, parsed) }
        }
        return metadata
    }

    private func status(of block: [(String, String)]) -> RPCError? {
        guard let raw = block.first(where: { $0.0 == "grpc-status" })?.1 else {
            return RPCError(.internal, "server sent no grpc-status")
        }
        let code = StatusCode(wireValue: raw)
        if code == .ok { return nil }
        let message = block.first { $0.0 == "grpc-message" }.map { GRPCWire.percentDecode($0.1) } ?? ""
        return RPCError(code, message, trailers: metadata(of: block))
    }

    /// The gRPC spec's mapping for responses that are not gRPC.
    static func codeForHTTPStatus(_ status: String) -> StatusCode {
        switch status {
        case "400": .internal
        case "401": .unauthenticated
        case "403": .permissionDenied
        case "404": .unimplemented
        case "429", "502", "503", "504": .unavailable
        default: .unknown
        }
    }

    static func statusForReset(_ errorCode: UInt32) -> RPCError {
        switch errorCode {
        case NGHTTP2_REFUSED_STREAM.rawValue: RPCError(.unavailable, "server refused the stream")
        case NGHTTP2_CANCEL.rawValue: RPCError(.cancelled, "server cancelled the stream")
        case NGHTTP2_ENHANCE_YOUR_CALM.rawValue: RPCError(.resourceExhausted, "server asked to enhance our calm")
        case NGHTTP2_INADEQUATE_SECURITY.rawValue: RPCError(.permissionDenied, "inadequate security")
        default: RPCError(.internal, "stream reset by the server (HTTP/2 error \(errorCode))")
        }
    }
}

extension Duration {
    var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}
