import CNGHTTP2
import NIOCore
import RPCCore

/// What an nghttp2 session reports while it parses input. Calls arrive on the connection's event
/// loop, from inside `nghttp2_session_mem_recv`: implementations may submit frames but must not
/// send or receive (the session flushes after the callback returns).
protocol H2SessionDelegate: AnyObject {
    func sessionBeginHeaders(stream: Int32)
    /// One header field; the bytes are valid only during the call (most are never made Strings).
    func sessionHeader(stream: Int32, name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer)
    /// A complete HEADERS block (request/response headers or trailers) arrived.
    func sessionHeadersComplete(stream: Int32, endStream: Bool)
    func sessionData(stream: Int32, bytes: UnsafeRawBufferPointer)
    /// END_STREAM arrived on a DATA frame.
    func sessionRemoteEnd(stream: Int32)
    func sessionStreamClosed(stream: Int32, errorCode: UInt32)
    /// We sent the frame ending our side of `stream` (last DATA or trailers).
    func sessionSentEndStream(stream: Int32)
    func sessionGoAway(lastStreamID: Int32, errorCode: UInt32)
}

/// A header block to submit: one of the fixed blocks nearly every call sends, or any list.
enum HeaderFields {
    case fixed(FixedHeaders)
    case list([(String, String)])
}

/// A header block sent on nearly every call, laid out for nghttp2 once. Its names and values live
/// as long as the process, so nghttp2 is told not to copy them either.
final class FixedHeaders: @unchecked Sendable {
    let fields: UnsafeBufferPointer<nghttp2_nv>

    init(_ headers: [(String, String)]) {
        let flags = UInt8(NGHTTP2_NV_FLAG_NO_COPY_NAME.rawValue | NGHTTP2_NV_FLAG_NO_COPY_VALUE.rawValue)
        let fields = UnsafeMutableBufferPointer<nghttp2_nv>.allocate(capacity: headers.count)
        for (i, (name, value)) in headers.enumerated() {
            fields[i] = nghttp2_nv(name: Self.immortal(name), value: Self.immortal(value), namelen: name.utf8.count,
                                   valuelen: value.utf8.count, flags: flags)
        }
        self.fields = UnsafeBufferPointer(fields)
    }

    private static func immortal(_ text: String) -> UnsafeMutablePointer<UInt8> {
        let bytes = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: max(text.utf8.count, 1))
        _ = bytes.initialize(from: text.utf8)
        return bytes.baseAddress!
    }

    /// The start of every successful gRPC response without custom metadata.
    static let grpcResponse = FixedHeaders(grpcResponseFields)
    static let grpcResponseFields = [
        (":status", "200"), ("content-type", "application/grpc"), ("grpc-accept-encoding", "identity"),
    ]
    /// The trailers of every successful call without custom trailing metadata.
    static let grpcOK = FixedHeaders([("grpc-status", "0")])
}

/// A body we send on one stream: bytes queued by the application, drained by nghttp2's data
/// source callback as flow control allows, then optional trailers.
final class OutboundBody {
    var buffer: [UInt8] = []
    var readIndex = 0
    var finished = false
    var trailers: HeaderFields?
    /// nghttp2 was told to wait (ERR_DEFERRED) and must be resumed when more arrives.
    var deferred = false
    /// Resumed when the buffer drains below the high-water mark (writer backpressure).
    var drainWaiters: [CheckedContinuation<Void, any Error>] = []

    var pending: Int { buffer.count - readIndex }
}

/// A thin owner of an `nghttp2_session` in memory-I/O mode: bytes in through ``receive(_:)``,
/// bytes out through ``drainOutput(_:)``. Not thread-safe: one event loop drives it.
final class H2Session {
    enum Role { case server, client }

    private(set) var raw: OpaquePointer!
    /// Unowned: the delegate owns the session and outlives it (a weak load on every callback cost
    /// more than the callback's work).
    fileprivate unowned(unsafe) let delegate: any H2SessionDelegate
    var bodies: [Int32: OutboundBody] = [:]
    /// Writers wait while a stream has this many bytes queued.
    let highWater = 256 * 1024

    init(role: Role, delegate: any H2SessionDelegate, maxConcurrentStreams: UInt32, initialWindow: UInt32,
         resetBurst: UInt64, resetRate: UInt64) {
        self.delegate = delegate
        var callbacks: OpaquePointer?
        nghttp2_session_callbacks_new(&callbacks)
        defer { nghttp2_session_callbacks_del(callbacks) }
        nghttp2_session_callbacks_set_on_begin_headers_callback(callbacks, onBeginHeaders)
        nghttp2_session_callbacks_set_on_header_callback(callbacks, onHeader)
        nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks, onFrameRecv)
        nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks, onDataChunk)
        nghttp2_session_callbacks_set_on_stream_close_callback(callbacks, onStreamClose)
        nghttp2_session_callbacks_set_on_frame_send_callback(callbacks, onFrameSend)

        var option: OpaquePointer?
        nghttp2_option_new(&option)
        defer { nghttp2_option_del(option) }
        // We consume received bytes only as the application takes messages: real flow control.
        nghttp2_option_set_no_auto_window_update(option, 1)
        nghttp2_option_set_stream_reset_rate_limit(option, resetBurst, resetRate)

        var session: OpaquePointer?
        let context = Unmanaged.passUnretained(self).toOpaque()
        switch role {
        case .server: nghttp2_session_server_new2(&session, callbacks, context, option)
        case .client: nghttp2_session_client_new2(&session, callbacks, context, option)
        }
        raw = session

        var settings = [
            nghttp2_settings_entry(settings_id: Int32(NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS.rawValue), value: maxConcurrentStreams),
            nghttp2_settings_entry(settings_id: Int32(NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE.rawValue), value: initialWindow),
        ]
        nghttp2_submit_settings(raw, UInt8(NGHTTP2_FLAG_NONE.rawValue), &settings, settings.count)
        // The connection window covers all streams, so it gets room for many at once.
        nghttp2_session_set_local_window_size(raw, UInt8(NGHTTP2_FLAG_NONE.rawValue), 0, Int32(16 * 1024 * 1024))
    }

    deinit {
        nghttp2_session_del(raw)
    }

    /// Feeds received bytes; false if the peer broke the protocol and the connection must close.
    func receive(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard let base = bytes.baseAddress else { return true }
        let n = nghttp2_session_mem_recv(raw, base.assumingMemoryBound(to: UInt8.self), bytes.count)
        return n >= 0
    }

    /// Every frame nghttp2 has ready, in one buffer (nil if none), so a flush is one socket write
    /// however many frames it carries; `ok` is false if the session failed.
    func drainOutput(_ allocator: ByteBufferAllocator) -> (bytes: ByteBuffer?, ok: Bool) {
        var out: ByteBuffer?
        while true {
            var data: UnsafePointer<UInt8>?
            let n = nghttp2_session_mem_send(raw, &data)
            if n <= 0 { return (out, n == 0) }
            let chunk = UnsafeRawBufferPointer(start: data, count: n)
            if out == nil { out = allocator.buffer(capacity: max(n, 16 * 1024)) }
            out!.writeBytes(chunk)
        }
    }

    var wantsIO: Bool { nghttp2_session_want_read(raw) != 0 || nghttp2_session_want_write(raw) != 0 }

    // MARK: Submitting

    /// Response headers; with `withBody` a body (messages, then trailers) follows, otherwise the
    /// headers end the stream (Trailers-Only).
    func submitResponse(stream: Int32, headers: HeaderFields, withBody: Bool) {
        if withBody { bodies[stream] = OutboundBody() }
        _ = withHeaders(headers) { nva, count in
            if withBody {
                var provider = nghttp2_data_provider(source: nghttp2_data_source(ptr: nil), read_callback: readBody)
                return nghttp2_submit_response(raw, stream, nva, count, &provider)
            }
            return nghttp2_submit_response(raw, stream, nva, count, nil)
        }
    }

    /// Request headers with a body to follow; returns the new stream's id, or a negative error.
    func submitRequest(headers: [(String, String)]) -> Int32 {
        let id = withHeaderVector(headers) { nva, count in
            var provider = nghttp2_data_provider(source: nghttp2_data_source(ptr: nil), read_callback: readBody)
            return nghttp2_submit_request(raw, nil, nva, count, &provider, nil)
        }
        if id > 0 { bodies[id] = OutboundBody() }
        return id
    }

    func submitTrailers(stream: Int32, trailers: HeaderFields) {
        _ = withHeaders(trailers) { nva, count in
            nghttp2_submit_trailer(raw, stream, nva, count)
        }
    }

    func resetStream(_ stream: Int32, errorCode: nghttp2_error_code) {
        nghttp2_submit_rst_stream(raw, UInt8(NGHTTP2_FLAG_NONE.rawValue), stream, errorCode.rawValue)
    }

    /// Returns flow-control credit for bytes the application has taken.
    func consume(stream: Int32, bytes: Int) {
        guard bytes > 0 else { return }
        if nghttp2_session_consume(raw, stream, bytes) != 0 {
            // The stream is gone; the connection still needs its credit back.
            nghttp2_session_consume_connection(raw, bytes)
        }
    }

    /// Queues body bytes and wakes nghttp2 if it was waiting for them.
    func appendBody(stream: Int32, _ bytes: [UInt8]) {
        guard let body = bodies[stream] else { return }
        body.buffer.append(contentsOf: bytes)
        resume(stream, body)
    }

    /// Queues one gRPC message: its length prefix and bytes go straight into the body.
    func appendMessage(stream: Int32, _ message: [UInt8]) {
        guard let body = bodies[stream] else { return }
        GRPCWire.appendFrame(message, to: &body.buffer)
        resume(stream, body)
    }

    /// Ends our side of the stream after the queued bytes, with trailers if given.
    func finishBody(stream: Int32, trailers: HeaderFields?) {
        guard let body = bodies[stream] else { return }
        body.finished = true
        body.trailers = trailers
        resume(stream, body)
    }

    private func resume(_ stream: Int32, _ body: OutboundBody) {
        if body.deferred {
            body.deferred = false
            nghttp2_session_resume_data(raw, stream)
        }
    }

    func submitShutdownNotice() { nghttp2_submit_shutdown_notice(raw) }

    func submitGoAway(errorCode: nghttp2_error_code = NGHTTP2_NO_ERROR) {
        nghttp2_submit_goaway(raw, UInt8(NGHTTP2_FLAG_NONE.rawValue),
                              nghttp2_session_get_last_proc_stream_id(raw), errorCode.rawValue, nil, 0)
    }

    func isRemoteClosed(_ stream: Int32) -> Bool {
        nghttp2_session_get_stream_remote_close(raw, stream) == 1
    }

    private func withHeaders<R>(_ headers: HeaderFields, _ body: (UnsafePointer<nghttp2_nv>, Int) -> R) -> R {
        switch headers {
        case .fixed(let fixed): body(fixed.fields.baseAddress!, fixed.fields.count)
        case .list(let list): withHeaderVector(list, body)
        }
    }

    private func withHeaderVector<R>(_ headers: [(String, String)], _ body: (UnsafePointer<nghttp2_nv>, Int) -> R) -> R {
        // nghttp2 copies names and values during the submit call, so one temporary buffer holds them.
        var bytes = [UInt8]()
        var spans: [(Int, Int, Int, Int)] = []
        spans.reserveCapacity(headers.count)
        for (name, value) in headers {
            let nameAt = bytes.count
            bytes.append(contentsOf: name.utf8)
            let valueAt = bytes.count
            bytes.append(contentsOf: value.utf8)
            spans.append((nameAt, valueAt - nameAt, valueAt, bytes.count - valueAt))
        }
        bytes.append(0)  // never empty, so the base address exists
        return bytes.withUnsafeMutableBufferPointer { buffer in
            let base = buffer.baseAddress!
            let nva = spans.map { nameAt, nameLength, valueAt, valueLength in
                nghttp2_nv(name: base + nameAt, value: base + valueAt, namelen: nameLength,
                           valuelen: valueLength, flags: UInt8(NGHTTP2_NV_FLAG_NONE.rawValue))
            }
            return nva.withUnsafeBufferPointer { body($0.baseAddress!, $0.count) }
        }
    }

    // MARK: Body source

    fileprivate func read(stream: Int32, into buf: UnsafeMutablePointer<UInt8>, length: Int, flags: UnsafeMutablePointer<UInt32>) -> Int {
        guard let body = bodies[stream] else {
            flags.pointee |= NGHTTP2_DATA_FLAG_EOF.rawValue
            return 0
        }
        let n = min(length, body.pending)
        if n > 0 {
            body.buffer.withUnsafeBufferPointer { src in
                buf.update(from: src.baseAddress! + body.readIndex, count: n)
            }
            body.readIndex += n
            if body.readIndex == body.buffer.count {
                body.buffer.removeAll(keepingCapacity: body.buffer.capacity <= 1 << 20)
                body.readIndex = 0
            }
            if body.pending < highWater, !body.drainWaiters.isEmpty {
                let waiters = body.drainWaiters
                body.drainWaiters = []
                for waiter in waiters { waiter.resume() }
            }
        }
        if body.pending == 0 {
            if body.finished {
                flags.pointee |= NGHTTP2_DATA_FLAG_EOF.rawValue
                if let trailers = body.trailers {
                    flags.pointee |= NGHTTP2_DATA_FLAG_NO_END_STREAM.rawValue
                    submitTrailers(stream: stream, trailers: trailers)
                }
                bodies[stream] = nil
                return n
            }
            if n == 0 {
                body.deferred = true
                return Int(NGHTTP2_ERR_DEFERRED.rawValue)
            }
        }
        return n
    }

    /// Fails every writer still waiting on `stream` and forgets its body.
    func dropBody(stream: Int32, error: any Error) {
        guard let body = bodies.removeValue(forKey: stream) else { return }
        for waiter in body.drainWaiters { waiter.resume(throwing: error) }
    }
}

// MARK: - C callbacks (no captures: the session comes back through user_data)

private func session(_ userData: UnsafeMutableRawPointer?) -> H2Session {
    Unmanaged<H2Session>.fromOpaque(userData!).takeUnretainedValue()
}

private let onBeginHeaders: nghttp2_on_begin_headers_callback = { _, frame, userData in
    let s = session(userData)
    s.delegate.sessionBeginHeaders(stream: frame!.pointee.hd.stream_id)
    return 0
}

private let onHeader: nghttp2_on_header_callback = { _, frame, name, nameLength, value, valueLength, _, userData in
    session(userData).delegate.sessionHeader(stream: frame!.pointee.hd.stream_id,
                                             name: UnsafeRawBufferPointer(start: name, count: nameLength),
                                             value: UnsafeRawBufferPointer(start: value, count: valueLength))
    return 0
}

private let onFrameRecv: nghttp2_on_frame_recv_callback = { _, frame, userData in
    let s = session(userData)
    let hd = frame!.pointee.hd
    let endStream = hd.flags & UInt8(NGHTTP2_FLAG_END_STREAM.rawValue) != 0
    switch Int(hd.type) {
    case Int(NGHTTP2_HEADERS.rawValue):
        s.delegate.sessionHeadersComplete(stream: hd.stream_id, endStream: endStream)
    case Int(NGHTTP2_DATA.rawValue):
        if endStream { s.delegate.sessionRemoteEnd(stream: hd.stream_id) }
    case Int(NGHTTP2_GOAWAY.rawValue):
        let goaway = frame!.pointee.goaway
        s.delegate.sessionGoAway(lastStreamID: goaway.last_stream_id, errorCode: goaway.error_code)
    default:
        break
    }
    return 0
}

private let onDataChunk: nghttp2_on_data_chunk_recv_callback = { _, _, stream, data, length, userData in
    session(userData).delegate.sessionData(stream: stream, bytes: UnsafeRawBufferPointer(start: data, count: length))
    return 0
}

private let onStreamClose: nghttp2_on_stream_close_callback = { _, stream, errorCode, userData in
    let s = session(userData)
    s.dropBody(stream: stream, error: RPCStreamClosed())
    s.delegate.sessionStreamClosed(stream: stream, errorCode: errorCode)
    return 0
}

private let onFrameSend: nghttp2_on_frame_send_callback = { _, frame, userData in
    let hd = frame!.pointee.hd
    if hd.flags & UInt8(NGHTTP2_FLAG_END_STREAM.rawValue) != 0,
       hd.type == UInt8(NGHTTP2_HEADERS.rawValue) || hd.type == UInt8(NGHTTP2_DATA.rawValue) {
        session(userData).delegate.sessionSentEndStream(stream: hd.stream_id)
    }
    return 0
}

private let readBody: nghttp2_data_source_read_callback = { _, stream, buf, length, flags, _, userData in
    session(userData).read(stream: stream, into: buf!, length: length, flags: flags!)
}

/// The stream ended before a queued write could go out.
struct RPCStreamClosed: Error {}
