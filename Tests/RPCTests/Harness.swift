import Foundation
import InteropProto
import NIOCore
import NIOPosix
import RPCCore
import RPCHTTP2
import Synchronization

/// Records what the server observed, so tests can assert the status the *server* produced.
final class RecordingObserver: RPCServerObserver {
    struct Call: Sendable { var path: String; var code: StatusCode; var message: String }
    private let calls = Mutex<[Call]>([])
    func callFinished(path: String, code: StatusCode, message: String, duration: Duration, peer: String) {
        calls.withLock { $0.append(Call(path: path, code: code, message: message)) }
    }
    var recorded: [Call] { calls.withLock { $0 } }
}

/// A small service over interop messages exercising every call shape and the awkward cases.
struct ProbeService: RPCService {
    let handlerStarted = Tally()
    let handlerCancelled = Tally()

    var serviceDefinition: RPCServiceDefinition {
        RPCServiceDefinition(name: "test.Probe", methods: [
            .unary("Echo", Grpc_Testing_SimpleRequest.self, Grpc_Testing_SimpleResponse.self) { request, context in
                if let status = request.responseStatus, status.code != 0 {
                    throw RPCError(StatusCode(rawValue: Int(status.code)) ?? .unknown, status.message)
                }
                if let value = context.requestMetadata["x-echo"] { context.addInitialMetadata("x-echo", .string(value)) }
                if let value = context.requestMetadata.binary("x-echo-bin") { context.addTrailingMetadata("x-echo-bin", .binary(value)) }
                return Grpc_Testing_SimpleResponse(payload: Grpc_Testing_Payload(
                    body: request.payload?.body ?? [UInt8](repeating: 7, count: Int(request.responseSize))))
            },
            .unary("Sleep", Grpc_Testing_SimpleRequest.self, Grpc_Testing_SimpleResponse.self) { [self] request, _ in
                handlerStarted.withLock { $0 += 1 }
                do {
                    try await Task.sleep(for: .milliseconds(Int(request.responseSize)))
                } catch {
                    handlerCancelled.withLock { $0 += 1 }
                    throw error
                }
                return Grpc_Testing_SimpleResponse()
            },
            .serverStreaming("Count", Grpc_Testing_SimpleRequest.self, Grpc_Testing_SimpleResponse.self) { request, responses, _ in
                for i in 0..<Int(request.responseSize) {
                    try await responses.write(Grpc_Testing_SimpleResponse(username: "\(i)"))
                }
            },
            .clientStreaming("Sum", Grpc_Testing_SimpleRequest.self, Grpc_Testing_SimpleResponse.self) { requests, _ in
                var total = 0
                for try await request in requests { total += Int(request.responseSize) }
                return Grpc_Testing_SimpleResponse(username: "\(total)")
            },
            .bidirectional("Ping", Grpc_Testing_SimpleRequest.self, Grpc_Testing_SimpleResponse.self) { requests, responses, _ in
                for try await request in requests {
                    try await responses.write(Grpc_Testing_SimpleResponse(username: "pong \(request.responseSize)"))
                }
            },
        ])
    }
}

/// A real server on a loopback port and a real client channel to it.
final class LoopbackPair: Sendable {
    let server: RPCServer
    let channel: HTTP2Channel
    let observer: RecordingObserver
    let port: Int

    static func start(_ service: any RPCService = ProbeService(), maxReceive: Int = 4 * 1024 * 1024,
                      interceptors: [any ServerInterceptor] = []) async throws -> LoopbackPair {
        var router = Router()
        router.register(service)
        for interceptor in interceptors { router.add(interceptor) }
        let observer = RecordingObserver()
        var configuration = RPCServerConfiguration(host: "127.0.0.1", port: 0)
        configuration.maxReceiveMessageSize = maxReceive
        configuration.observer = observer
        configuration.shutdownGracePeriod = .seconds(5)
        let server = RPCServer(router: router, configuration: configuration, threads: 2)
        let (_, port) = try await server.start()
        return LoopbackPair(server: server, channel: HTTP2Channel(host: "127.0.0.1", port: port), observer: observer, port: port)
    }

    init(server: RPCServer, channel: HTTP2Channel, observer: RecordingObserver, port: Int) {
        self.server = server
        self.channel = channel
        self.observer = observer
        self.port = port
    }

    func stop() async {
        await channel.close()
        await server.shutdown()
    }

    func echo(_ request: Grpc_Testing_SimpleRequest, options: CallOptions = CallOptions()) async throws -> Grpc_Testing_SimpleResponse {
        try await channel.unary("/test.Probe/Echo", request, options: options)
    }
}

/// Writes raw bytes to the server's socket, for input no well-behaved client would send.
func sendRaw(_ bytes: [UInt8], port: Int, readFor: Duration = .milliseconds(300)) async throws -> [UInt8] {
    let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    let received = RawCollector()
    let channel = try await ClientBootstrap(group: group)
        .channelInitializer { channel in
            channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(received) }
        }
        .connect(host: "127.0.0.1", port: port).get()
    var buffer = channel.allocator.buffer(capacity: bytes.count)
    buffer.writeBytes(bytes)
    try? await channel.writeAndFlush(buffer).get()
    try await Task.sleep(for: readFor)
    try? await channel.close().get()
    try? await group.shutdownGracefully()
    return received.bytes
}

final class RawCollector: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer
    private let storage = Mutex<[UInt8]>([])
    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        storage.withLock { $0.append(contentsOf: buffer.readableBytesView) }
    }
    var bytes: [UInt8] { storage.withLock { $0 } }
}

extension Array where Element == UInt8 {
    /// The HTTP/2 client connection preface.
    static let h2Preface = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)
    /// An empty SETTINGS frame.
    static let emptySettings: [UInt8] = [0, 0, 0, 4, 0, 0, 0, 0, 0]
}

/// A counter shared between a service and the test that watches it.
final class Tally: Sendable {
    private let value = Mutex(0)
    func withLock<T>(_ body: (inout Int) -> T) -> T { value.withLock { body(&$0) } }
}
