import InteropProto
import RPCCore
import RPCHTTP2
import Testing

@Suite("gRPC call shapes over real HTTP/2 on loopback")
struct CallShapeTests {
    @Test func unaryRoundTripCarriesMetadataBothWays() async throws {
        let pair = try await LoopbackPair.start()
        defer { Task { await pair.stop() } }
        var metadata = Metadata()
        metadata.add("x-echo", "hello")
        metadata.add("x-echo-bin", binary: [0, 1, 2, 0xFF])
        let call = try await pair.channel.makeCall(path: "/test.Probe/Echo", options: CallOptions(metadata: metadata))
        try await call.send(Grpc_Testing_SimpleRequest(responseSize: 10).serializedBytes())
        try await call.finishSending()
        let response = try Grpc_Testing_SimpleResponse(serializedBytes: try #require(try await call.receive()))
        #expect(response.payload?.body == [UInt8](repeating: 7, count: 10))
        #expect(try await call.receive() == nil)
        #expect(try await call.initialMetadata()["x-echo"] == "hello")
        #expect(await call.trailingMetadata().binary("x-echo-bin") == [0, 1, 2, 0xFF])
    }

    @Test func errorStatusAndUnicodeMessageSurviveTheWire() async throws {
        let pair = try await LoopbackPair.start()
        defer { Task { await pair.stop() } }
        let message = "\t\ntest with whitespace\r\nand Unicode BMP ☺ and non-BMP 😈\t\n 100%"
        let error = await #expect(throws: RPCError.self) {
            try await pair.echo(Grpc_Testing_SimpleRequest(responseStatus: Grpc_Testing_EchoStatus(code: 9, message: message)))
        }
        #expect(error?.code == .failedPrecondition)
        #expect(error?.message == message)
    }

    @Test func unknownServiceAndMethodAreUnimplementedAndNamed() async throws {
        let pair = try await LoopbackPair.start()
        defer { Task { await pair.stop() } }
        let noService = await #expect(throws: RPCError.self) {
            let _: Grpc_Testing_Empty = try await pair.channel.unary("/nope.Service/Call", Grpc_Testing_Empty())
        }
        #expect(noService?.code == .unimplemented)
        #expect(noService?.message.contains("nope.Service") == true)
        let noMethod = await #expect(throws: RPCError.self) {
            let _: Grpc_Testing_Empty = try await pair.channel.unary("/test.Probe/Missing", Grpc_Testing_Empty())
        }
        #expect(noMethod?.code == .unimplemented)
        #expect(noMethod?.message.contains("Missing") == true)
    }

    @Test func serverStreamingDeliversEveryMessageInOrder() async throws {
        let pair = try await LoopbackPair.start()
        defer { Task { await pair.stop() } }
        let stream: ResponseStream<Grpc_Testing_SimpleResponse> =
            try await pair.channel.serverStreaming("/test.Probe/Count", Grpc_Testing_SimpleRequest(responseSize: 2000))
        var seen: [String] = []
        for try await response in stream { seen.append(response.username) }
        #expect(seen == (0..<2000).map(String.init))
    }

    @Test func clientStreamingAggregates() async throws {
        let pair = try await LoopbackPair.start()
        defer { Task { await pair.stop() } }
        let response: Grpc_Testing_SimpleResponse = try await pair.channel.clientStreaming("/test.Probe/Sum") { sender in
            for i in 1...500 { try await sender.send(Grpc_Testing_SimpleRequest(responseSize: Int32(i))) }
        }
        #expect(response.username == "125250")
    }

    @Test func bidirectionalPingPongInterleaves() async throws {
        let pair = try await LoopbackPair.start()
        defer { Task { await pair.stop() } }
        let call: BidirectionalCall<Grpc_Testing_SimpleRequest, Grpc_Testing_SimpleResponse> =
            try await pair.channel.bidirectional("/test.Probe/Ping")
        var iterator = call.responses.makeAsyncIterator()
        for i in 0..<50 {
            try await call.send(Grpc_Testing_SimpleRequest(responseSize: Int32(i)))
            // Each answer arrives before the next request is sent: true interleaving.
            #expect(try await iterator.next()?.username == "pong \(i)")
        }
        try await call.finish()
        #expect(try await iterator.next() == nil)
    }

    @Test func largeMessagesFlowBothWaysUnderFlowControl() async throws {
        let pair = try await LoopbackPair.start()
        defer { Task { await pair.stop() } }
        let body = (0..<(3 * 1024 * 1024)).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        let response = try await pair.echo(Grpc_Testing_SimpleRequest(payload: Grpc_Testing_Payload(body: body)))
        #expect(response.payload?.body == body)
    }

    @Test func manyConcurrentStreamsShareOneConnection() async throws {
        let pair = try await LoopbackPair.start()
        defer { Task { await pair.stop() } }
        try await withThrowingTaskGroup(of: Bool.self) { group in
            for i in 0..<500 {
                group.addTask {
                    let body = Array("call \(i)".utf8)
                    let response = try await pair.echo(Grpc_Testing_SimpleRequest(payload: Grpc_Testing_Payload(body: body)))
                    return response.payload?.body == body
                }
            }
            var ok = 0
            for try await matched in group where matched { ok += 1 }
            #expect(ok == 500)
        }
    }
}
