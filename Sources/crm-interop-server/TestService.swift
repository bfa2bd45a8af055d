import InteropProto
import RPCCore

/// `grpc.testing.TestService` as the gRPC interop test descriptions specify the server side, so a
/// stock client's interop cases can check our runtime against the published behaviour.
struct TestService: Grpc_Testing_TestServiceHandler {
    static let echoInitialKey = "x-grpc-test-echo-initial"
    static let echoTrailingKey = "x-grpc-test-echo-trailing-bin"

    func emptyCall(_ request: Grpc_Testing_Empty, context: ServerContext) async throws -> Grpc_Testing_Empty {
        echoMetadata(context)
        return Grpc_Testing_Empty()
    }

    func unaryCall(_ request: Grpc_Testing_SimpleRequest, context: ServerContext) async throws -> Grpc_Testing_SimpleResponse {
        echoMetadata(context)
        try refuseCompression(request.expectCompressed, request.responseCompressed)
        try fail(with: request.responseStatus)
        return Grpc_Testing_SimpleResponse(payload: try payload(size: request.responseSize))
    }

    func cacheableUnaryCall(_ request: Grpc_Testing_SimpleRequest, context: ServerContext) async throws -> Grpc_Testing_SimpleResponse {
        try await unaryCall(request, context: context)
    }

    func streamingOutputCall(_ request: Grpc_Testing_StreamingOutputCallRequest,
                             responses: ResponseWriter<Grpc_Testing_StreamingOutputCallResponse>,
                             context: ServerContext) async throws {
        echoMetadata(context)
        for parameters in request.responseParameters {
            try await respond(parameters, responses)
        }
        try fail(with: request.responseStatus)
    }

    func streamingInputCall(_ requests: RequestStream<Grpc_Testing_StreamingInputCallRequest>,
                            context: ServerContext) async throws -> Grpc_Testing_StreamingInputCallResponse {
        echoMetadata(context)
        var total: Int32 = 0
        for try await request in requests {
            try refuseCompression(request.expectCompressed, nil)
            total += Int32(request.payload?.body.count ?? 0)
        }
        return Grpc_Testing_StreamingInputCallResponse(aggregatedPayloadSize: total)
    }

    func fullDuplexCall(_ requests: RequestStream<Grpc_Testing_StreamingOutputCallRequest>,
                        responses: ResponseWriter<Grpc_Testing_StreamingOutputCallResponse>,
                        context: ServerContext) async throws {
        echoMetadata(context)
        for try await request in requests {
            try fail(with: request.responseStatus)
            for parameters in request.responseParameters {
                try await respond(parameters, responses)
            }
        }
    }

    func halfDuplexCall(_ requests: RequestStream<Grpc_Testing_StreamingOutputCallRequest>,
                        responses: ResponseWriter<Grpc_Testing_StreamingOutputCallResponse>,
                        context: ServerContext) async throws {
        echoMetadata(context)
        var buffered: [Grpc_Testing_StreamingOutputCallRequest] = []
        for try await request in requests { buffered.append(request) }
        for request in buffered {
            try fail(with: request.responseStatus)
            for parameters in request.responseParameters { try await respond(parameters, responses) }
        }
    }

    func unimplementedCall(_ request: Grpc_Testing_Empty, context: ServerContext) async throws -> Grpc_Testing_Empty {
        throw RPCError(.unimplemented, "grpc.testing.TestService/UnimplementedCall is unimplemented by design")
    }

    // MARK: Helpers

    private func respond(_ parameters: Grpc_Testing_ResponseParameters,
                         _ responses: ResponseWriter<Grpc_Testing_StreamingOutputCallResponse>) async throws {
        try refuseCompression(nil, parameters.compressed)
        if parameters.intervalUs > 0 {
            try await Task.sleep(for: .microseconds(Int(parameters.intervalUs)))
        }
        try await responses.write(Grpc_Testing_StreamingOutputCallResponse(payload: try payload(size: parameters.size)))
    }

    private func payload(size: Int32) throws -> Grpc_Testing_Payload {
        guard size >= 0 else { throw RPCError(.invalidArgument, "response_size: must not be negative, got \(size)") }
        return Grpc_Testing_Payload(type: .compressable, body: [UInt8](repeating: 0, count: Int(size)))
    }

    /// The spec's status echo: a request may ask the server to fail with a given code and message.
    private func fail(with status: Grpc_Testing_EchoStatus?) throws {
        guard let status, status.code != 0 else { return }
        let code = StatusCode(rawValue: Int(status.code)) ?? .unknown
        throw RPCError(code, status.message)
    }

    /// We speak identity encoding only; the spec says such a server rejects requests that expect compression.
    private func refuseCompression(_ expect: Grpc_Testing_BoolValue?, _ respond: Grpc_Testing_BoolValue?) throws {
        if expect?.value == true {
            throw RPCError(.invalidArgument, "expect_compressed: this server does not support compression")
        }
        if respond?.value == true {
            throw RPCError(.invalidArgument, "response_compressed: this server does not support compression")
        }
    }

    private func echoMetadata(_ context: ServerContext) {
        let metadata = context.requestMetadata
        if let initial = metadata[Self.echoInitialKey] {
            context.addInitialMetadata(Self.echoInitialKey, .string(initial))
        }
        if let trailing = metadata.binary(Self.echoTrailingKey) {
            context.addTrailingMetadata(Self.echoTrailingKey, .binary(trailing))
        }
    }
}
