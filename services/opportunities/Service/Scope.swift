import GRDB
import RPCCore
import ServiceRuntime

/// The owner / team a personal or team list is about (ListDue, ListAtRisk, ListFocus), checked
/// against who asks: a rep lists their own, a manager their team (or one member of it), an admin anyone.
struct Scope {
    var owner: String?
    var team: String?

    static func resolve(owner: String, team: String, caller: Caller, what: String, defaultToCaller: Bool) throws -> Scope {
        var scope = Scope(owner: owner.isBlank ? nil : owner.trimmed, team: team.isBlank ? nil : team.trimmed)
        if let team = scope.team, caller.role != .admin, team != caller.team {
            throw RPCError(.permissionDenied, "team_id: \(caller.userID) may list \(what) of team \(caller.team) only")
        }
        if let owner = scope.owner, caller.role == .rep, owner != caller.userID {
            throw RPCError(.permissionDenied, "owner_id: a rep lists their own \(what) only")
        }
        if scope.owner == nil && scope.team == nil {
            if defaultToCaller || caller.role == .rep {
                scope.owner = caller.userID
            } else if caller.role == .manager {
                scope.team = caller.team
            }
        }
        return scope
    }

    func apply(to conditions: inout Conditions, alias: String) {
        if let owner { conditions.add("\(alias).owner_id = ?", [owner]) }
        if let team { conditions.add("\(alias).team_id = ?", [team]) }
    }
}
