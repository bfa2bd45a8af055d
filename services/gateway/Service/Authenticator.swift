import CRMProto
import CRMStore
import Foundation
import GRDB
import Logging
import RPCCore
import ServiceRuntime
import Synchronization

/// Resolves `authorization: Bearer <token>` to a principal (SUITE.md "Who is calling").
///
/// Tokens are looked up by their SHA-256 in the store. Resolved tokens are cached in memory because
/// every call through the gateway needs one; the gateway is the only writer of its store, so every
/// change that can end a token (revoke, deactivate, role/team change, import) clears the cache
/// before it answers, and a lookup that raced with such a change is not cached (generation check).
/// That is what makes "a revoked token stops working at once" hold with a cache. Entries also
/// expire after ``cacheLifetime``, so a change made by another process on the same store (a second
/// gateway replica, an offline restore) holds within that time.
final class Authenticator: Sendable {
    let store: Store
    let clock: any WallClock
    let logger: Logger
    private let adminToken: [UInt8]?
    private let serviceToken: [UInt8]
    private let cache = Mutex(Cache())

    /// How stale last_used_at_ms may get before a call refreshes it (a write per call would cost
    /// more than the call).
    static let lastUsedResolutionMs: Int64 = 60_000

    struct Cache {
        var generation = 0
        var entries: [String: Entry] = [:]
    }

    struct Entry {
        var user: Crm_Gateway_V1_User
        var token: Crm_Gateway_V1_TokenInfo
        var loadedAt = ContinuousClock.now
    }

    static let cacheLifetime: Duration = .seconds(2)

    init(store: Store, clock: any WallClock, adminToken: String?, serviceToken: String, logger: Logger) {
        self.store = store
        self.clock = clock
        self.logger = logger
        self.adminToken = adminToken.flatMap { $0.isEmpty ? nil : Array($0.utf8) }
        self.serviceToken = Array(serviceToken.utf8)
    }

    /// Call after any committed change to users or tokens.
    func invalidate() {
        cache.withLock { cache in
            cache.generation += 1
            cache.entries.removeAll()
        }
    }

    func authenticate(_ metadata: Metadata) async throws -> Principal {
        guard let authorization = metadata["authorization"] else {
            if let presented = metadata[Caller.serviceTokenKey] {
                guard constantTimeEqual(Array(presented.utf8), serviceToken) else {
                    throw RPCError(.unauthenticated, "\(Caller.serviceTokenKey): not valid")
                }
                return .service
            }
            throw RPCError(.unauthenticated, "authorization: Bearer token required")
        }
        let parts = authorization.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else {
            throw RPCError(.unauthenticated, "authorization: expected 'Bearer <token>'")
        }
        var secretPart = parts[1]
        while let last = secretPart.last, last == " " || last == "\t" { secretPart = secretPart.dropLast() }
        let secret = String(secretPart)
        if let adminToken, constantTimeEqual(Array(secret.utf8), adminToken) { return .bootstrap }
        let entry = try lookup(hash: TokenSecret.hash(secret))
        let now = clock.nowMs()
        guard !entry.token.revoked else { throw RPCError(.unauthenticated, "authorization: token revoked") }
        guard entry.user.active else { throw RPCError(.unauthenticated, "authorization: user \(entry.user.id) is deactivated") }
        if entry.token.expiresAtMs > 0, now >= entry.token.expiresAtMs {
            throw RPCError(.unauthenticated, "authorization: token expired")
        }
        if now - entry.token.lastUsedAtMs >= Self.lastUsedResolutionMs { touch(entry.token, now: now) }
        return Principal(kind: .user, user: entry.user, token: entry.token)
    }

    private func lookup(hash: String) throws -> Entry {
        let (cached, generation) = cache.withLock { ($0.entries[hash], $0.generation) }
        if let cached, ContinuousClock.now - cached.loadedAt < Self.cacheLifetime { return cached }
        // On this thread: two reads by key. When the cache entry expires, the calls in flight on
        // this loop then find it refilled by the first of them instead of all reading the store.
        let found = try store.readHere { db -> Entry? in
            guard let tokenRow = try Row.fetchOne(
                db.cachedStatement(sql: "SELECT \(DirectoryRows.tokenColumns) FROM tokens WHERE token_hash = ?"),
                arguments: [hash]) else { return nil }
            let token = DirectoryRows.tokenInfo(tokenRow)
            guard let user = try DirectoryRows.fetchUser(db, id: token.userId) else { return nil }
            return Entry(user: user, token: token)
        }
        guard let found else { throw RPCError(.unauthenticated, "authorization: token not valid") }
        cache.withLock { cache in
            if cache.generation == generation { cache.entries[hash] = found }
        }
        return found
    }

    /// Records that a token was used, off the request path.
    private func touch(_ token: Crm_Gateway_V1_TokenInfo, now: Int64) {
        cache.withLock { cache in
            for (hash, entry) in cache.entries where entry.token.id == token.id {
                cache.entries[hash]?.token.lastUsedAtMs = now
            }
        }
        let store = self.store, logger = self.logger, id = token.id
        Task.detached {
            do {
                try await store.write { db in
                    try db.execute(sql: "UPDATE tokens SET last_used_at_ms = ? WHERE id = ? AND last_used_at_ms < ?",
                                   arguments: [now, id, now])
                }
            } catch {
                logger.notice("could not record token use", metadata: ["token": "\(id)", "error": "\(error)"])
            }
        }
    }
}

/// Compares without an early exit, so timing does not reveal how much of a secret matched.
func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
    var difference = UInt8(a.count == b.count ? 0 : 1)
    for i in 0..<max(a.count, b.count) {
        difference |= (i < a.count ? a[i] : 0) ^ (i < b.count ? b[i] : 0)
    }
    return difference == 0
}

/// The gateway's interceptor: every call but health needs a principal; a service with only the
/// service token may read the directory (ListUsers, GetUser, ListTeams) and nothing else.
struct BearerInterceptor: ServerInterceptor {
    let authenticator: Authenticator
    let identities: CallIdentities

    static let serviceReadablePaths: Set<String> = [
        Crm_Gateway_V1_GatewayService.Method.listUsers,
        Crm_Gateway_V1_GatewayService.Method.getUser,
        Crm_Gateway_V1_GatewayService.Method.listTeams,
    ]

    func intercept(_ context: ServerContext, method: RPCMethod) async throws {
        if context.path.hasPrefix("/grpc.health.v1.Health/") { return }
        let principal = try await authenticator.authenticate(context.requestMetadata)
        if principal.kind == .service, !Self.serviceReadablePaths.contains(context.path) {
            throw RPCError(.unauthenticated,
                           "authorization: Bearer token required (the service token only reads the user directory)")
        }
        identities.remember(principal, for: context)
    }
}
