import Foundation
import GRDB
import RPCCore
import ServiceRuntime

/// Who is calling and what they may see (SUITE.md "Who is calling" and visibility): a rep sees the
/// opportunities and tasks they own, a manager the team's, an admin all. Invisible records answer
/// NOT_FOUND exactly like missing ones.
enum Access {
    /// The user behind a call; user-facing methods need one.
    static func user(_ context: ServerContext) throws -> Caller { try Caller(context: context) }

    /// The user, or nil for a call from inside the suite with only the service token (crm-forecast's
    /// export, sweeps triggered by operators' tooling). The token was already checked by the host.
    static func userOrSystem(_ context: ServerContext) throws -> Caller? {
        let metadata = context.requestMetadata
        if (metadata[Caller.userKey] ?? "").isEmpty && (metadata[Caller.roleKey] ?? "").isEmpty { return nil }
        return try Caller(context: context)
    }

    /// Admin-only operations (settings, sweeps, raw export/import) also accept the system.
    static func requireAdminOrSystem(_ caller: Caller?, _ action: String) throws {
        if let caller, caller.role != .admin {
            throw RPCError(.permissionDenied, "\(action) needs an admin; \(caller.userID) is a \(caller.role.rawValue)")
        }
    }

    /// The opportunity `id` as `caller` may see it; NOT_FOUND when missing or invisible.
    static func visibleOpportunity(_ db: Database, id: String, caller: Caller?) throws -> Opportunity {
        guard let o = try OpportunityTable.find(db, id: id), caller?.canSee(ownerID: o.ownerId, teamID: o.teamId) ?? true else {
            throw RPCError(.notFound, "opportunity \(id) not found")
        }
        return o
    }

    static func visibleTask(_ db: Database, id: String, caller: Caller) throws -> TaskItem {
        guard let t = try TaskTable.find(db, id: id), caller.canSee(ownerID: t.ownerId, teamID: t.teamId) else {
            throw RPCError(.notFound, "task \(id) not found")
        }
        return t
    }

    /// SQL condition limiting rows of a table with `owner_id` / `team_id` columns (under `alias`) to
    /// what `caller` may see.
    static func visibilityCondition(_ caller: Caller?, alias: String) -> (sql: String, arguments: StatementArguments) {
        visibilityCondition(caller, owner: "\(alias).owner_id", team: "\(alias).team_id")
    }

    /// The same over arbitrary owner / team expressions (e.g. a follow-up seen through its opportunity).
    static func visibilityCondition(_ caller: Caller?, owner: String, team: String) -> (sql: String, arguments: StatementArguments) {
        guard let caller else { return ("1", []) }
        switch caller.role {
        case .admin: return ("1", [])
        case .manager: return ("(\(team) = ? OR \(owner) = ?)", [caller.team, caller.userID])
        case .rep: return ("\(owner) = ?", [caller.userID])
        }
    }

    /// ABORTED naming the current version when an update names another (SUITE.md "Errors").
    static func requireVersion(_ requested: Int64, current: Int64, of what: String) throws {
        if requested != current {
            throw RPCError(.aborted, "version: \(what) is at version \(current), the request names \(requested); reload and retry")
        }
    }
}

/// Maps store failures to statuses a client can act on, so no request ends as an unexplained
/// INTERNAL: a busy or locked store is UNAVAILABLE (retry), a constraint hit by a concurrent write is
/// ABORTED (retry the read-modify-write).
func guarded<T>(_ body: () async throws -> T) async throws -> T {
    do {
        return try await body()
    } catch let error as DatabaseError {
        switch error.resultCode {
        case .SQLITE_BUSY, .SQLITE_LOCKED:
            throw RPCError(.unavailable, "the store is busy; retry")
        case .SQLITE_CONSTRAINT:
            throw RPCError(.aborted, "a concurrent write conflicted with this one; retry")
        case .SQLITE_FULL, .SQLITE_IOERR:
            throw RPCError(.unavailable, "the store cannot write right now (\(error.resultCode)); retry later")
        default:
            throw RPCError(.internal, "store error: \(error.resultCode)")
        }
    }
}
