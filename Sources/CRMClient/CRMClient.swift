import CRMProto
import RPCCore
import RPCHTTP2

/// The typed Swift client of the CRM suite: one connection to crm-gateway, authenticated with an
/// API token, and a generated client for every service behind it. Every call carries
/// `authorization: Bearer <token>`, a deadline (the call's own or ``Configuration/defaultTimeout``),
/// and is retried on UNAVAILABLE when that cannot do harm (see ``RetryPolicy``).
///
/// ```swift
/// let crm = try CRMClient(gateway: "127.0.0.1:7400", token: token)
/// let me = try await crm.gateway.whoAmI(.init())
/// let lead = try await crm.leads.createLead(request)
/// await crm.close()
/// ```
public final class CRMClient: Sendable {
    public struct Configuration: Sendable {
        /// Deadline of calls that set none (nil: calls without a deadline wait as long as it takes).
        public var defaultTimeout: Duration?
        public var retry: RetryPolicy
        public var maxReceiveMessageSize: Int

        public init(defaultTimeout: Duration? = .seconds(30), retry: RetryPolicy = .default,
                    maxReceiveMessageSize: Int = 4 * 1024 * 1024) {
            self.defaultTimeout = defaultTimeout
            self.retry = retry
            self.maxReceiveMessageSize = maxReceiveMessageSize
        }
    }

    /// The authenticated channel every typed client below uses (usable with any generated client).
    public let channel: GatewayChannel

    public var gateway: Crm_Gateway_V1_GatewayServiceClient { .init(channel: channel) }
    public var leads: Crm_Leads_V1_LeadServiceClient { .init(channel: channel) }
    public var customers: Crm_Customers_V1_CustomerServiceClient { .init(channel: channel) }
    public var opportunities: Crm_Opportunities_V1_OpportunityServiceClient { .init(channel: channel) }
    public var tickets: Crm_Tickets_V1_TicketServiceClient { .init(channel: channel) }
    public var forecast: Crm_Forecast_V1_ForecastServiceClient { .init(channel: channel) }
    /// The gateway's health, with one entry per backend (e.g. "crm.leads.v1.LeadService").
    public var health: Grpc_Health_V1_HealthClient { .init(channel: channel) }

    /// Connects lazily to the gateway at `HOST:PORT` (IPv6 as `[::1]:PORT`) with an API token.
    public init(gateway address: String, token: String, configuration: Configuration = Configuration()) throws {
        let transport = try HTTP2Channel(address: address)
        channel = GatewayChannel(transport: transport, token: token, configuration: configuration)
    }

    /// Uses an existing transport (tests, custom event loops).
    public init(transport: any RPCChannel, token: String, configuration: Configuration = Configuration()) {
        channel = GatewayChannel(transport: transport, token: token, configuration: configuration)
    }

    /// Closes the connection; calls in flight fail with UNAVAILABLE.
    public func close() async {
        if let http2 = channel.transport as? HTTP2Channel { await http2.close() }
    }
}
