import CRMProto
import Logging
import RPCCore
import ServiceRuntime
import Synchronization

/// The user directory as the gateway owns it (SUITE.md "Who is calling"), read with the service token
/// through `GatewayService/ListUsers` and cached briefly. crm-customers needs it for one fact: the team
/// of a customer's owner, which decides manager visibility.
final class UserDirectory: Sendable {
    enum Lookup: Sendable, Equatable {
        case found(team: String, active: Bool)
        case unknown
        /// The gateway could not be asked; callers fall back to what they know.
        case unavailable
    }

    private let peers: Peers
    private let logger: Logger
    private let cache = Mutex<[String: (lookup: Lookup, at: ContinuousClock.Instant)]>([:])
    static let ttl: Duration = .seconds(60)

    init(peers: Peers, logger: Logger) {
        self.peers = peers
        self.logger = logger
    }

    func lookup(_ userID: String) async -> Lookup {
        let now = ContinuousClock.now
        if let hit = cache.withLock({ $0[userID] }), now - hit.at < Self.ttl { return hit.lookup }
        let client = Crm_Gateway_V1_GatewayServiceClient(channel: peers.channel("gateway"))
        do {
            let response = try await client.listUsers(
                Crm_Gateway_V1_ListUsersRequest(userIds: [userID], includeInactive: true),
                options: peers.options(for: nil, timeout: .seconds(2)))
            let result: Lookup = response.users.first(where: { $0.id == userID })
                .map { .found(team: $0.teamId, active: $0.active) } ?? .unknown
            cache.withLock { $0[userID] = (result, now) }
            return result
        } catch {
            logger.notice("user directory unavailable; falling back", metadata: ["user": "\(userID)", "error": "\(error)"])
            return .unavailable
        }
    }
}
