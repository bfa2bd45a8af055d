import CRMProto
import Foundation
import Logging
import RPCCore
import ServiceRuntime
import Synchronization

/// What crm-opportunities asks other services before a write: does the customer exist and may the
/// caller see it (crm-customers, with the caller's identity), is the key person a contact of that
/// customer, which team a user belongs to (crm-gateway's directory, with a short-lived cache).
///
/// Lookups never block a write on a peer that is down: an unreachable peer answers `.unknown` and the
/// write goes ahead with what the request says (names stay empty). A peer that answers "no such
/// record" does stop the write.
final class Directory: Sendable {
    enum Lookup<Value: Sendable>: Sendable {
        case found(Value)
        case missing
        case unknown
    }

    private let peers: Peers
    private let logger: Logger
    private let teams = Mutex([String: (team: String, expires: ContinuousClock.Instant)]())
    static let cacheLifetime: Duration = .seconds(60)
    static let timeout: Duration = .seconds(2)

    init(peers: Peers, logger: Logger) {
        self.peers = peers
        self.logger = logger
    }

    func customer(_ id: String, as caller: Caller) async -> Lookup<Crm_Customers_V1_Customer> {
        let client = Crm_Customers_V1_CustomerServiceClient(channel: peers.channel("customers"))
        return await lookup("customers.GetCustomer") {
            try await client.getCustomer(.init(customerId: id), options: peers.options(for: caller, timeout: Self.timeout)).customer
        }
    }

    func contact(_ id: String, as caller: Caller) async -> Lookup<Crm_Customers_V1_Contact> {
        let client = Crm_Customers_V1_CustomerServiceClient(channel: peers.channel("customers"))
        return await lookup("customers.GetContact") {
            try await client.getContact(.init(contactId: id), options: peers.options(for: caller, timeout: Self.timeout)).contact
        }
    }

    /// The team of user `id` from the gateway's directory (cached for a minute).
    func team(of id: String) async -> Lookup<String> {
        let now = ContinuousClock.now
        if let cached = teams.withLock({ $0[id] }), cached.expires > now { return .found(cached.team) }
        let client = Crm_Gateway_V1_GatewayServiceClient(channel: peers.channel("gateway"))
        let result: Lookup<Crm_Gateway_V1_User?> = await lookup("gateway.ListUsers") {
            let response = try await client.listUsers(.init(userIds: [id], includeInactive: true),
                                                      options: peers.options(for: nil, timeout: Self.timeout))
            return response.users.first(where: { $0.id == id })
        }
        switch result {
        case .found(let user?):
            teams.withLock { $0[id] = (user.teamId, now + Self.cacheLifetime) }
            return .found(user.teamId)
        case .found(nil), .missing: return .missing
        case .unknown: return .unknown
        }
    }

    private func lookup<Value: Sendable>(_ what: String, _ call: () async throws -> Value?) async -> Lookup<Value> {
        do {
            guard let value = try await call() else { return .missing }
            return .found(value)
        } catch let error as RPCError where [.notFound, .permissionDenied, .invalidArgument].contains(error.code) {
            return .missing
        } catch {
            logger.notice("lookup unavailable; continuing without it", metadata: ["call": "\(what)", "error": "\(error)"])
            return .unknown
        }
    }
}
