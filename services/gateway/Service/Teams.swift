import CRMProto
import GRDB
import RPCCore
import ServiceRuntime

/// Teams: the unit of manager visibility and target breakdown.
extension GatewayHandler {
    func createTeam(_ request: Crm_Gateway_V1_CreateTeamRequest, context: ServerContext) async throws
        -> Crm_Gateway_V1_CreateTeamResponse {
        try principal(context).requireAdmin("CreateTeam")
        var problems = FieldErrors()
        let name = problems.require("name", request.name)
        problems.maxLength("name", name, 200)
        problems.maxLength("request_id", request.requestId, 200)
        try problems.throwIfAny()
        let now = clock.nowMs()
        let (response, replayed) = try await writeDirectory { db in
            try Idempotency.run(db, scope: "CreateTeam", requestID: request.requestId, request: request, nowMs: now) {
                var manager: Crm_Gateway_V1_User?
                if !request.managerId.isEmpty {
                    guard let found = try DirectoryRows.fetchUser(db, id: request.managerId) else {
                        throw RPCError(.invalidArgument, "manager_id: no user '\(request.managerId)'")
                    }
                    guard found.role == .manager || found.role == .admin, found.active else {
                        throw RPCError(.invalidArgument, "manager_id: \(found.id) is not an active manager or admin")
                    }
                    manager = found
                }
                if let existing = try String.fetchOne(db, sql: "SELECT id FROM teams WHERE name_key = ?",
                                                      arguments: [DirectoryRows.nameKey(name)]) {
                    throw RPCError(.alreadyExists, "name: team '\(name)' already exists (\(existing))")
                }
                var team = Crm_Gateway_V1_Team(id: RecordID.make("team", nowMs: now), version: 1, name: name,
                                               managerId: request.managerId, createdAtMs: now)
                try DirectoryRows.insert(db, team)
                // A manager without a team joins the team they manage (visibility follows the team).
                if var manager, manager.teamId.isEmpty {
                    manager.teamId = team.id
                    manager.version += 1
                    manager.updatedAtMs = now
                    try DirectoryRows.update(db, manager)
                    team.memberCount = 1
                }
                return Crm_Gateway_V1_CreateTeamResponse(team: team)
            }
        }
        var answer = response
        answer.replayed = replayed
        return answer
    }

    func listTeams(_ request: Crm_Gateway_V1_ListTeamsRequest, context: ServerContext) async throws -> Crm_Gateway_V1_ListTeamsResponse {
        _ = try principal(context)
        let size = try PageToken.pageSize(request.pageSize)
        let after = try PageToken.decode(request.pageToken, parts: 1)?[0] ?? ""
        let teams = try await store.read { db in
            try Row.fetchAll(db, sql: DirectoryRows.teamSelect + " WHERE t.id > ? ORDER BY t.id LIMIT ?",
                             arguments: [after, size + 1]).map(DirectoryRows.team)
        }
        var response = Crm_Gateway_V1_ListTeamsResponse(teams: Array(teams.prefix(size)))
        if teams.count > size, let last = response.teams.last { response.nextPageToken = PageToken.encode([last.id]) }
        return response
    }
}
