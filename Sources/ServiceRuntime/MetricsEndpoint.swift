import NIOCore
import NIOHTTP1
import NIOPosix
import Prometheus

/// Serves the process's metrics as Prometheus text at `GET /metrics` over HTTP/1.1, the way a
/// Prometheus scraper expects them. The gRPC port stays HTTP/2-only.
public final class MetricsEndpoint: Sendable {
    let registry: PrometheusCollectorRegistry
    let group: MultiThreadedEventLoopGroup
    let channel: any Channel

    public static func start(registry: PrometheusCollectorRegistry, at address: HostPort) async throws -> MetricsEndpoint {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.pipeline.configureHTTPServerPipeline().flatMap {
                    channel.pipeline.addHandler(MetricsHTTPHandler(registry: registry))
                }
            }
            .bind(host: address.host, port: address.port).get()
        return MetricsEndpoint(registry: registry, group: group, channel: channel)
    }

    init(registry: PrometheusCollectorRegistry, group: MultiThreadedEventLoopGroup, channel: any Channel) {
        self.registry = registry
        self.group = group
        self.channel = channel
    }

    public var port: Int { channel.localAddress?.port ?? 0 }

    public func stop() async {
        try? await channel.close()
        try? await group.shutdownGracefully()
    }
}

final class MetricsHTTPHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart
    let registry: PrometheusCollectorRegistry

    init(registry: PrometheusCollectorRegistry) { self.registry = registry }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .head(let request) = unwrapInboundIn(data) else { return }
        let found = request.method == .GET && request.uri.split(separator: "?").first == "/metrics"
        let body = found ? registry.emitToBuffer() : Array("not found: try GET /metrics\n".utf8)
        var headers = HTTPHeaders()
        headers.add(name: "content-type", value: found ? "text/plain; version=0.0.4" : "text/plain")
        headers.add(name: "content-length", value: "\(body.count)")
        let head = HTTPResponseHead(version: request.version, status: found ? .ok : .notFound, headers: headers)
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        var buffer = context.channel.allocator.buffer(capacity: body.count)
        buffer.writeBytes(body)
        context.write(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
    }
}
