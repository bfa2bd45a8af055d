import CRMProto
import Foundation
import Logging
import RPCCore
import ServiceRuntime
import Synchronization

/// What crm-tickets asks other services synchronously: a customer's name and owner (crm-customers),
/// and a user's team (the gateway's directory). Both are best-effort: when the peer is down the
/// caller falls back to what crm-tickets already knows, so after-sales work is never blocked by
/// another service's outage.
final class Directory: Sendable {
    struct CustomerFacts: Sendable, Equatable {
        var name: String
        var ownerID: String
        var teamID: String
    }

    enum Lookup<Value: Sendable>: Sendable {
        case found(Value)
        /// The peer answered that it does not exist (or the caller may not see it).
        case notFound
        /// The peer could not answer; the message says why.
        case unavailable(String)
    }

    let peers: Peers
    let logger: Logger
    private let teams = Mutex<[String: (team: String, expiresAt: ContinuousClock.Instant)]>([:])
    static let cacheLifetime: Duration = .seconds(60)
    static let timeout: Duration = .seconds(2)

    init(peers: Peers, logger: Logger) {
        self.peers = peers
        self.logger = logger
    }

    /// The customer as `caller` sees it in crm-customers.
    func customer(_ id: String, as caller: Caller) async -> Lookup<CustomerFacts> {
        let client = Crm_Customers_V1_CustomerServiceClient(channel: peers.channel("customers"))
        do {
            let response = try await client.getCustomer(Crm_Customers_V1_GetCustomerRequest(customerId: id),
                                                        options: peers.options(for: caller, timeout: Self.timeout))
            guard let customer = response.customer else { return .unavailable("empty GetCustomer answer") }
            return .found(CustomerFacts(name: customer.name, ownerID: customer.ownerId, teamID: customer.teamId))
        } catch let error as RPCError where error.code == .notFound {
            return .notFound
        } catch {
            logger.notice("crm-customers lookup failed; using local facts", metadata: ["customer": "\(id)", "error": "\(error)"])
            return .unavailable("\(error)")
        }
    }

    /// The team of `userID` from the gateway's directory (cached briefly).
    func team(of userID: String) async -> Lookup<String> {
        let now = ContinuousClock.now
        if let cached = teams.withLock({ $0[userID] }), cached.expiresAt > now { return .found(cached.team) }
        let client = Crm_Gateway_V1_GatewayServiceClient(channel: peers.channel("gateway"))
        do {
            let response = try await client.listUsers(
                Crm_Gateway_V1_ListUsersRequest(userIds: [userID], includeInactive: true),
                options: peers.options(for: nil, timeout: Self.timeout))
            guard let user = response.users.first(where: { $0.id == userID }) else { return .notFound }
            teams.withLock { $0[userID] = (user.teamId, now + Self.cacheLifetime) }
            return .found(user.teamId)
        } catch {
            logger.notice("gateway directory lookup failed", metadata: ["user": "\(userID)", "error": "\(error)"])
            return .unavailable("\(error)")
        }
    }
}
