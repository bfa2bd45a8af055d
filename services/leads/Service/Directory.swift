import CRMProto
import Logging
import RPCCore
import ServiceRuntime

/// What lead assignment needs to know about a user (SUITE.md: the directory is the gateway's).
struct DirectoryUser: Sendable, Equatable {
    var id: String
    var role: Crm_Gateway_V1_Role
    var teamID: String
    var active: Bool
    var outOfOffice: Bool
    var outOfOfficeUntilMs: Int64
    /// Max open unactivated leads routed to this user; 0 = no limit.
    var leadCapacity: Int32

    /// Out of office now: flagged, and the return time (if any) not reached yet.
    func isOutOfOffice(now: Int64) -> Bool {
        outOfOffice && (outOfOfficeUntilMs == 0 || now < outOfOfficeUntilMs)
    }

    /// Can take a new lead at all (capacity is checked separately against the store).
    func isAvailable(now: Int64) -> Bool { active && !isOutOfOffice(now: now) }
}

/// One fetch of the whole directory.
struct DirectorySnapshot: Sendable {
    var users: [String: DirectoryUser]

    func user(_ id: String) -> DirectoryUser? { users[id] }

    /// Reps of a team, in id order (the round-robin order).
    func reps(inTeam team: String) -> [DirectoryUser] {
        users.values.filter { $0.teamID == team && $0.role == .rep }.sorted { $0.id < $1.id }
    }
}

/// The user directory read from crm-gateway's ListUsers with the service token, cached briefly so
/// intake does not call the gateway per lead. When the gateway cannot be reached, a stale copy up to
/// `maxStale` old is used; without one the call answers UNAVAILABLE.
actor UserDirectory {
    private let client: Crm_Gateway_V1_GatewayServiceClient
    private let peers: Peers
    private let ttl: Duration
    private let maxStale: Duration
    private let logger: Logger
    private var cached: (snapshot: DirectorySnapshot, at: ContinuousClock.Instant)?
    private var refreshing: Task<DirectorySnapshot, any Error>?

    init(peers: Peers, ttl: Duration, maxStale: Duration = .seconds(300), logger: Logger) {
        self.peers = peers
        client = Crm_Gateway_V1_GatewayServiceClient(channel: peers.channel("gateway"))
        self.ttl = ttl
        self.maxStale = maxStale
        self.logger = logger
    }

    func snapshot() async throws -> DirectorySnapshot {
        let now = ContinuousClock.now
        if let cached, now - cached.at < ttl { return cached.snapshot }
        let task: Task<DirectorySnapshot, any Error>
        if let refreshing {
            task = refreshing
        } else {
            task = Task { [client, peers] in try await Self.fetch(client: client, peers: peers) }
            refreshing = task
        }
        do {
            let snapshot = try await task.value
            if refreshing == task { refreshing = nil }
            cached = (snapshot, ContinuousClock.now)
            return snapshot
        } catch {
            if refreshing == task { refreshing = nil }
            if let cached, ContinuousClock.now - cached.at < maxStale {
                logger.notice("user directory refresh failed; using cached copy", metadata: ["error": "\(error)"])
                return cached.snapshot
            }
            throw RPCError(.unavailable, "user directory (crm-gateway ListUsers) unavailable: \(Self.describe(error))")
        }
    }

    /// Forgets the cached copy (after a change that must be seen at once, e.g. in tests).
    func invalidate() { cached = nil }

    private static func fetch(client: Crm_Gateway_V1_GatewayServiceClient, peers: Peers) async throws -> DirectorySnapshot {
        var users: [String: DirectoryUser] = [:]
        var request = Crm_Gateway_V1_ListUsersRequest(includeInactive: true, pageSize: 500)
        for _ in 0..<1000 {  // bounded: 500,000 users
            let page = try await client.listUsers(request, options: peers.options(for: nil, timeout: .seconds(5)))
            for user in page.users {
                users[user.id] = DirectoryUser(
                    id: user.id, role: user.role, teamID: user.teamId, active: user.active,
                    outOfOffice: user.outOfOffice, outOfOfficeUntilMs: user.outOfOfficeUntilMs,
                    leadCapacity: user.leadCapacity)
            }
            if page.nextPageToken.isEmpty || page.nextPageToken == request.pageToken { break }
            request.pageToken = page.nextPageToken
        }
        return DirectorySnapshot(users: users)
    }

    private static func describe(_ error: any Error) -> String {
        if let status = error as? RPCError { return status.description }
        return "\(error)"
    }
}
