import InteropProto
import RPCCore
import RPCHTTP2
import Testing

@Suite("Deadlines, cancellation, limits and bad input")
struct FailureTests {
    @Test func serverEnforcesTheDeadlineAndCancelsTheHandler() async throws {
        let probe = ProbeService()
        let pair = try await LoopbackPair.start(probe)
        defer { Task { await pair.stop() } }
        let error = await #expect(throws: RPCError.self) {
            let _: Grpc_Testing_SimpleResponse = try await pair.channel.unary(
                "/test.Probe/Sleep", Grpc_Testing_SimpleRequest(responseSize: 10_000),
                options: CallOptions(timeout: .seconds(1)))
        }
        #expect(error?.code == .deadlineExceeded)
        // The status came from the server (its message names the timeout), not from a client timer.
        #expect(error?.message.contains("deadline of") == true)
        try await eventually { probe.handlerCancelled.withLock { $0 } == 1 }
        #expect(pair.observer.recorded.contains { $0.path == "/test.Probe/Sleep" && $0.code == .deadlineExceeded })
    }

    @Test func clientCancellationReachesTheHandler() async throws {
        let probe = ProbeService()
        let pair = try await LoopbackPair.start(probe)
        defer { Task { await pair.stop() } }
        let call = try await pair.channel.makeCall(path: "/test.Probe/Sleep", options: CallOptions())
        try await call.send(Grpc_Testing_SimpleRequest(responseSize: 10_000).serializedBytes())
        try await call.finishSending()
        try await eventually { probe.handlerStarted.withLock { $0 } == 1 }
        call.cancel()
        let error = await #expect(throws: RPCError.self) { _ = try await call.receive() }
        #expect(error?.code == .cancelled)
        try await eventually { probe.handlerCancelled.withLock { $0 } == 1 }
        try await eventually { pair.observer.recorded.contains { $0.code == .cancelled } }
    }

    @Test func oversizedRequestIsResourceExhaustedAndTheConnectionLivesOn() async throws {
        let pair = try await LoopbackPair.start(maxReceive: 64 * 1024)
        defer { Task { await pair.stop() } }
        let error = await #expect(throws: RPCError.self) {
            try await pair.echo(Grpc_Testing_SimpleRequest(payload: Grpc_Testing_Payload(body: [UInt8](repeating: 1, count: 200_000))))
        }
        #expect(error?.code == .resourceExhausted)
        #expect(error?.message.contains("65536") == true)
        let ok = try await pair.echo(Grpc_Testing_SimpleRequest(responseSize: 3))
        #expect(ok.payload?.body.count == 3)
    }

    @Test func undecodableRequestIsInvalidArgumentWhileOtherStreamsContinue() async throws {
        let pair = try await LoopbackPair.start()
        defer { Task { await pair.stop() } }
        let slow = Task {
            let _: Grpc_Testing_SimpleResponse = try await pair.channel.unary(
                "/test.Probe/Sleep", Grpc_Testing_SimpleRequest(responseSize: 300))
        }
        let call = try await pair.channel.makeCall(path: "/test.Probe/Echo", options: CallOptions())
        try await call.send([0x0A, 0xFF, 0xFF, 0xFF])  // field 1, length runs past the end
        try await call.finishSending()
        let error = await #expect(throws: RPCError.self) { _ = try await call.receive() }
        #expect(error?.code == .invalidArgument)
        #expect(error?.message.contains("grpc.testing.SimpleRequest") == true)
        try await slow.value
    }

    @Test func aSlowHandlerDoesNotStallOtherCalls() async throws {
        let pair = try await LoopbackPair.start()
        defer { Task { await pair.stop() } }
        let clock = ContinuousClock()
        let start = clock.now
        let slow = Task {
            let _: Grpc_Testing_SimpleResponse = try await pair.channel.unary(
                "/test.Probe/Sleep", Grpc_Testing_SimpleRequest(responseSize: 3_000))
            return clock.now
        }
        for _ in 0..<100 { _ = try await pair.echo(Grpc_Testing_SimpleRequest(responseSize: 1)) }
        let fastDone = clock.now
        let slowDone = try await slow.value
        // Ordering, not timing: all fast calls finished while the slow one was still running.
        #expect(fastDone < slowDone)
        #expect(slowDone - start >= .milliseconds(3_000))
    }

    @Test func garbageOnTheSocketNeverTakesTheServerDown() async throws {
        let pair = try await LoopbackPair.start()
        defer { Task { await pair.stop() } }
        var generator = SystemRandomNumberGenerator()
        let inputs: [[UInt8]] = [
            (0..<4096).map { _ in UInt8.random(in: 0...255, using: &generator) },
            Array("GET / HTTP/1.1\r\nHost: x\r\n\r\n".utf8),
            .h2Preface,
            .h2Preface + [0, 0, 0, 4],  // truncated frame header
            .h2Preface + .emptySettings + [0, 0, 200, 1, 5, 0, 0, 0, 1] + [UInt8](repeating: 0xFF, count: 50),  // bad HPACK
            .h2Preface + .emptySettings + [0xFF, 0xFF, 0xFF, 0, 0, 0, 0, 0, 1],  // oversized DATA on idle stream
        ]
        for input in inputs {
            _ = try await sendRaw(input, port: pair.port, readFor: .milliseconds(100))
        }
        let ok = try await pair.echo(Grpc_Testing_SimpleRequest(responseSize: 5))
        #expect(ok.payload?.body.count == 5)
    }

    @Test func gracefulShutdownLetsInFlightCallsFinish() async throws {
        let probe = ProbeService()
        let pair = try await LoopbackPair.start(probe)
        let inFlight = Task {
            let _: Grpc_Testing_SimpleResponse = try await pair.channel.unary(
                "/test.Probe/Sleep", Grpc_Testing_SimpleRequest(responseSize: 500))
        }
        try await eventually { probe.handlerStarted.withLock { $0 } == 1 }
        await pair.server.shutdown()
        try await inFlight.value  // completed with OK despite the shutdown
        let error = await #expect(throws: RPCError.self) {
            try await pair.echo(Grpc_Testing_SimpleRequest(responseSize: 1))
        }
        #expect(error?.code == .unavailable)
        await pair.channel.close()
    }

    @Test func aDownTargetFailsFastAndTheChannelRecoversWhenItReturns() async throws {
        let pair = try await LoopbackPair.start()
        let port = pair.port
        await pair.server.shutdown()
        let channel = HTTP2Channel(host: "127.0.0.1", port: port)
        let clock = ContinuousClock()
        let started = clock.now
        let down = await #expect(throws: RPCError.self) {
            let _: Grpc_Testing_SimpleResponse = try await channel.unary("/test.Probe/Echo", Grpc_Testing_SimpleRequest())
        }
        #expect(down?.code == .unavailable)
        #expect(clock.now - started < .seconds(2))
        // Bring a server back on the same port; the channel reconnects by itself after its backoff.
        var router = Router()
        router.register(ProbeService())
        let revived = RPCServer(router: router, configuration: RPCServerConfiguration(host: "127.0.0.1", port: port), threads: 1)
        _ = try await revived.start()
        var recovered = false
        for _ in 0..<50 where !recovered {
            do {
                let _: Grpc_Testing_SimpleResponse = try await channel.unary("/test.Probe/Echo", Grpc_Testing_SimpleRequest(responseSize: 1))
                recovered = true
            } catch let error as RPCError where error.code == .unavailable {
                try await Task.sleep(for: .milliseconds(100))
            }
        }
        #expect(recovered)
        await channel.close()
        await revived.shutdown()
        await pair.channel.close()
    }
}

/// Polls a condition that another task will make true (never a fixed sleep standing in for an outcome).
func eventually(timeout: Duration = .seconds(5), _ condition: @Sendable () -> Bool) async throws {
    let deadline = ContinuousClock.now + timeout
    while !condition() {
        if ContinuousClock.now > deadline { Issue.record("condition not met within \(timeout)"); return }
        try await Task.sleep(for: .milliseconds(10))
    }
}
