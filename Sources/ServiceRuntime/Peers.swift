import CRMProto
import RPCCore
import RPCHTTP2

/// Channels to the other processes of the suite, opened lazily by address, and the metadata that
/// proves a call comes from inside the suite.
public final class Peers: Sendable {
    public let serviceToken: String
    private let channels: [String: HTTP2Channel]

    public init(options: ResolvedOptions) {
        serviceToken = options.serviceToken ?? ""
        var channels: [String: HTTP2Channel] = [:]
        for (name, address) in options.peers {
            channels[name] = HTTP2Channel(host: address.host, port: address.port)
        }
        self.channels = channels
    }

    /// The channel to `name` ("leads", "customers", "opportunities", "tickets", "forecast", "gateway").
    public func channel(_ name: String) -> HTTP2Channel {
        guard let channel = channels[name] else { preconditionFailure("no peer named \(name)") }
        return channel
    }

    /// Options for a call made on behalf of `caller` (or as the system when nil), with a deadline.
    public func options(for caller: Caller?, timeout: Duration = .seconds(5)) -> CallOptions {
        var metadata = caller?.metadata(serviceToken: serviceToken) ?? Metadata()
        if caller == nil { metadata.add(Caller.serviceTokenKey, serviceToken) }
        return CallOptions(timeout: timeout, metadata: metadata)
    }

    public func close() async {
        for channel in channels.values { await channel.close() }
    }
}
