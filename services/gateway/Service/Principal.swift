import CRMProto
import RPCCore
import ServiceRuntime
import Synchronization

/// Who is calling the gateway, as the bearer interceptor resolved it.
struct Principal: Sendable {
    enum Kind: Sendable, Equatable {
        /// A directory user with an API token.
        case user
        /// The `--admin-token` bootstrap credential: an administrator with no user record.
        case bootstrapAdmin
        /// Another process of the suite with the service token (directory reads only).
        case service
    }

    let kind: Kind
    /// The user (synthetic for the bootstrap admin, empty for a service).
    let user: Crm_Gateway_V1_User
    /// The token the call authenticated with (users only).
    let token: Crm_Gateway_V1_TokenInfo?

    static let bootstrapUserID = "bootstrap-admin"

    static let bootstrap = Principal(
        kind: .bootstrapAdmin,
        user: Crm_Gateway_V1_User(id: bootstrapUserID, name: "bootstrap administrator", role: .admin, active: true),
        token: nil)

    static let service = Principal(kind: .service, user: Crm_Gateway_V1_User(), token: nil)

    var isAdmin: Bool { kind == .bootstrapAdmin || (kind == .user && user.role == .admin) }
    var isManager: Bool { kind == .user && user.role == .manager }

    /// The identity forwarded to services (SUITE.md "Who is calling"); nil for a service caller.
    var caller: Caller? {
        guard kind != .service else { return nil }
        let role: Caller.Role = switch user.role {
        case .admin: .admin
        case .manager: .manager
        default: .rep
        }
        return Caller(userID: user.id, role: role, team: user.teamId)
    }

    /// PERMISSION_DENIED unless an administrator is calling.
    func requireAdmin(_ action: String) throws {
        guard isAdmin else {
            throw RPCError(.permissionDenied, "\(action) needs an admin; \(user.id.isEmpty ? "the caller" : user.id) is not one")
        }
    }

    /// The caller's identity for a handler that needs a person, not a service.
    func requirePerson(_ action: String) throws -> Caller {
        guard let caller else { throw RPCError(.unauthenticated, "\(action) needs authorization: Bearer <token>") }
        return caller
    }
}

/// Hands the principal the interceptor resolved to the handler of the same call. `ServerContext`
/// is shared by both but has no slot for it, so calls are keyed by their context's identity; the
/// entry lives exactly as long as the handler (see ``scoped(_:)``).
final class CallIdentities: Sendable {
    private let entries = Mutex<[ObjectIdentifier: Principal]>([:])

    func remember(_ principal: Principal, for context: ServerContext) {
        entries.withLock { $0[ObjectIdentifier(context)] = principal }
    }

    /// The principal of this call; UNAUTHENTICATED when the interceptor did not admit it.
    func principal(_ context: ServerContext) throws -> Principal {
        guard let principal = entries.withLock({ $0[ObjectIdentifier(context)] }) else {
            throw RPCError(.unauthenticated, "authorization: Bearer token required")
        }
        return principal
    }

    func forget(_ context: ServerContext) {
        entries.withLock { _ = $0.removeValue(forKey: ObjectIdentifier(context)) }
    }

    /// Wraps a method so its entry is dropped when the handler ends, however it ends.
    func scoped(_ method: RPCMethod) -> RPCMethod {
        RPCMethod(name: method.name, kind: method.kind) { source, sink, context in
            defer { self.forget(context) }
            try await method.handle(source, sink, context)
        }
    }

    func scoped(_ service: any RPCService) -> any RPCService {
        let definition = service.serviceDefinition
        return ScopedService(serviceDefinition: RPCServiceDefinition(
            name: definition.name, methods: definition.methods.map(scoped)))
    }

    var count: Int { entries.withLock { $0.count } }
}

private struct ScopedService: RPCService {
    let serviceDefinition: RPCServiceDefinition
}
