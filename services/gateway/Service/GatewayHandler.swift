import CRMProto
import CRMStore
import GRDB
import RPCCore
import ServiceRuntime

/// `crm.gateway.v1.GatewayService`: the directory (users, teams), API tokens, backend health and
/// the combined views. The methods live in one extension per concern (Users, Teams, Tokens,
/// Backends, views, export/import).
struct GatewayHandler: Crm_Gateway_V1_GatewayServiceHandler {
    let store: Store
    let clock: any WallClock
    let identities: CallIdentities
    let authenticator: Authenticator
    let backends: Backends
    let serviceToken: String

    func principal(_ context: ServerContext) throws -> Principal {
        try identities.principal(context)
    }

    /// Runs one write transaction that changes who may do what, then drops cached identities so
    /// the change holds from the next call on.
    func writeDirectory<T: Sendable>(_ body: @Sendable @escaping (GRDB.Database) throws -> T) async throws -> T {
        defer { authenticator.invalidate() }
        return try await store.write(body)
    }
}
