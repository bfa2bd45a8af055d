import CRMProto
import RPCCore
import ServiceRuntime

/// Whose figures a call covers, after visibility (forecast.proto: "a rep sees own figures, a
/// manager the team's, an admin all"). A rep asking for someone else's figures, or a manager for
/// another team's, is refused with PERMISSION_DENIED; asking nothing gives the caller's own scope.
struct FigureScope: Sendable, Equatable {
    /// nil = every team.
    var teamID: String?
    /// nil = every person (of the team, when set).
    var userID: String?

    static let company = FigureScope(teamID: nil, userID: nil)

    static func resolve(_ caller: Caller, teamID: String, userID: String) throws -> FigureScope {
        let team = teamID.trimmingCharacters(in: .whitespaces)
        let user = userID.trimmingCharacters(in: .whitespaces)
        switch caller.role {
        case .admin:
            return FigureScope(teamID: team.isEmpty ? nil : team, userID: user.isEmpty ? nil : user)
        case .manager:
            if !team.isEmpty, team != caller.team {
                throw RPCError(.permissionDenied, "team_id: \(caller.userID) manages team '\(caller.team)', not '\(team)'")
            }
            // A manager's own deals count even if recorded under another team.
            if user == caller.userID { return FigureScope(teamID: nil, userID: user) }
            return FigureScope(teamID: caller.team, userID: user.isEmpty ? nil : user)
        case .rep:
            if !user.isEmpty, user != caller.userID {
                throw RPCError(.permissionDenied, "user_id: a rep sees only their own figures, not \(user)'s")
            }
            if !team.isEmpty, team != caller.team {
                throw RPCError(.permissionDenied, "team_id: a rep sees only their own figures")
            }
            return FigureScope(teamID: nil, userID: caller.userID)
        }
    }

    func includes(ownerID: String, teamID: String) -> Bool {
        if let userID, ownerID != userID { return false }
        if let scopeTeam = self.teamID, teamID != scopeTeam { return false }
        return true
    }

    func includes(_ deal: Deal) -> Bool { includes(ownerID: deal.ownerID, teamID: deal.teamID) }

    /// The scope as interned codes; nil when it names a team or person with no deals at all.
    func codes(in names: Interner) -> (team: Int32?, user: Int32?)? {
        var team: Int32?
        var user: Int32?
        if let teamID {
            guard let code = names.lookup(teamID) else { return nil }
            team = code
        }
        if let userID {
            guard let code = names.lookup(userID) else { return nil }
            user = code
        }
        return (team, user)
    }

    /// The scope's headline level and id (a row's `scope` / `scope_id`).
    var level: (scope: Crm_Forecast_V1_Scope, id: String) {
        if let userID { return (.user, userID) }
        if let teamID { return (.team, teamID) }
        return (.company, "")
    }
}
