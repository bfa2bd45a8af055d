import GRDB
import RPCCore
import ServiceRuntime

/// Who may see and change a customer (SUITE.md "Who is calling"): a rep sees customers they own or
/// collaborate on, a manager the team's, an admin all. Invisible customers answer NOT_FOUND exactly like
/// missing ones; visible customers the caller may not change answer PERMISSION_DENIED.
enum Access {
    /// The caller of a request. Calls another service makes as the system carry only the service token
    /// (no x-crm-user and no x-crm-role); they act as "system" with admin visibility.
    static func caller(_ context: ServerContext) throws -> Caller {
        let metadata = context.requestMetadata
        if metadata[Caller.userKey] == nil, metadata[Caller.roleKey] == nil {
            return Caller(userID: systemUser, role: .admin, team: "")
        }
        return try Caller(context: context)
    }

    static let systemUser = "system"

    static func canSee(_ caller: Caller, _ customer: Customer) -> Bool {
        // A manager without a team sees only what they own or collaborate on.
        if caller.role == .manager, caller.team.isEmpty {
            return customer.ownerId == caller.userID || customer.collaboratorIds.contains(caller.userID)
        }
        return caller.canSee(ownerID: customer.ownerId, teamID: customer.teamId, collaborators: customer.collaboratorIds)
    }

    /// An admin, or the manager of the customer's team (not a manager who merely collaborates on
    /// another team's customer).
    static func managesTeam(_ caller: Caller, _ customer: Customer) -> Bool {
        caller.role == .admin || (caller.role == .manager && !caller.team.isEmpty && customer.teamId == caller.team)
    }

    /// Owner, the team's manager or an admin: collaborators, key marks, archive.
    static func requireOwnerOrManager(_ caller: Caller, _ customer: Customer, _ action: String) throws {
        guard managesTeam(caller, customer) || customer.ownerId == caller.userID else {
            throw RPCError(.permissionDenied, "\(action) needs the owner, the team's manager or an admin; \(caller.userID) may only work on customer \(customer.id)")
        }
    }

    /// The team's manager or an admin: reassigning the owner.
    static func requireTeamManager(_ caller: Caller, _ customer: Customer, _ action: String) throws {
        guard managesTeam(caller, customer) else {
            throw RPCError(.permissionDenied, "\(action) needs the manager of team '\(customer.teamId)' or an admin; \(caller.userID) is a \(caller.role.rawValue)")
        }
    }

    static func notFound(_ id: String) -> RPCError { RPCError(.notFound, "customer \(id) not found") }

    /// The customer if it exists and the caller may see it; NOT_FOUND otherwise (the same answer for both).
    static func visibleCustomer(_ db: Database, id: String, caller: Caller) throws -> StoredCustomer {
        guard let stored = try StoredCustomer.load(db, id: id), canSee(caller, stored.customer) else {
            throw notFound(id)
        }
        return stored
    }

    /// Optimistic concurrency: the update names the version it changes.
    static func checkVersion(_ requested: Int64, current: Int64, record: String) throws {
        guard requested == current else {
            throw RPCError(.aborted, "version: \(record) is at version \(current), the request names version \(requested); reload and retry")
        }
    }

    /// Profile and lifecycle edits are refused on archived customers (their history stays readable).
    static func requireActive(_ customer: Customer) throws {
        guard !customer.archived else {
            throw RPCError(.failedPrecondition, "customer \(customer.id) is archived; its record is read-only")
        }
    }
}
