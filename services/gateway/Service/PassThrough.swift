import RPCCore
import RPCHTTP2
import ServiceRuntime

/// Routing (issue 8): every `crm.<service>.v1.*` method is served at its own path by forwarding the
/// raw message bytes to the owning backend and back, never decoding them, so any method a backend
/// adds works through the gateway unchanged. The caller's identity replaces whatever identity
/// metadata the client sent; the rest of its metadata, the remaining deadline, the backend's
/// headers, trailers and status all pass through.
struct PassThrough: Sendable {
    let backends: Backends
    let identities: CallIdentities
    let serviceToken: String

    /// `Router.fallback`: a method for paths of services the gateway does not host itself.
    func method(for path: String) -> RPCMethod? {
        guard let (service, method) = Router.split(path), let backend = BackendID.owning(service: service) else { return nil }
        let name = String(method)
        return identities.scoped(RPCMethod(name: name, kind: .bidirectional) { source, sink, context in
            try await forward(to: backend, path: path, source: source, sink: sink, context: context)
        })
    }

    /// The metadata a forwarded call carries: the client's own keys, minus its credentials and any
    /// identity it claimed, plus the identity the gateway vouches for.
    static func forwardedMetadata(_ incoming: Metadata, caller: Caller, serviceToken: String) -> Metadata {
        var metadata = Metadata()
        for (key, value) in incoming where key != "authorization" && !key.hasPrefix("x-crm-") {
            metadata.add(key, value)
        }
        for (key, value) in caller.metadata(serviceToken: serviceToken) { metadata.add(key, value) }
        return metadata
    }

    func forward(to backend: BackendID, path: String, source: any RawRequestSource, sink: any RawResponseSink,
                 context: ServerContext) async throws {
        let caller = try identities.principal(context).requirePerson(path)
        var timeout: Duration?
        if let remaining = context.timeRemaining {
            guard remaining > .zero else { throw RPCError(.deadlineExceeded, "deadline exceeded before forwarding to \(backend.rawValue)") }
            timeout = remaining
        }
        let options = CallOptions(timeout: timeout,
                                  metadata: Self.forwardedMetadata(context.requestMetadata, caller: caller, serviceToken: serviceToken))
        let call: any RPCClientCall
        do {
            call = try await backends.channel(backend).makeCall(path: path, options: options)
        } catch let error as RPCError {
            if error.code == .unavailable { backends.markUnreachable(backend, error) }
            throw RPCError(error.code, "crm-\(backend.rawValue) is unavailable: \(error.message)")
        }
        backends.markReachable(backend)

        // A request the client already sent whole, of at most one message (every unary call), goes
        // out in one step: sendLast never waits on flow control. Otherwise requests flow in their
        // own task: in streaming calls the backend may answer (or fail) while the client is still
        // sending. It ends when the client half-closes, or when the call is over (the transport
        // then fails its pending read).
        var upstream: Task<Void, Never>?
        let whole = source.takeAllIfComplete()
        if let whole, whole.count <= 1 {
            if let message = whole.first { try await call.sendLast(message) } else { try await call.finishSending() }
        } else {
            upstream = Task {
                do {
                    if let whole {
                        for message in whole { try await call.send(message) }
                    } else {
                        while let message = try await source.next() { try await call.send(message) }
                    }
                    try await call.finishSending()
                } catch {
                    call.cancel()
                }
            }
        }
        defer { upstream?.cancel() }

        try await withTaskCancellationHandler {
            var headersForwarded = false
            while true {
                guard let message = try await call.receive() else {
                    for (key, value) in await call.trailingMetadata() { context.addTrailingMetadata(key, value) }
                    return
                }
                if !headersForwarded {
                    headersForwarded = true
                    for (key, value) in (try? await call.initialMetadata()) ?? Metadata() {
                        context.addInitialMetadata(key, value)
                    }
                }
                try await sink.write(message)
            }
        } onCancel: {
            call.cancel()
        }
    }
}
