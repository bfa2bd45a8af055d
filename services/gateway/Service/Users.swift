import CRMProto
import GRDB
import RPCCore
import ServiceRuntime

/// The user directory (SUITE.md: owned by the gateway; services read it with their service token).
extension GatewayHandler {
    func createUser(_ request: Crm_Gateway_V1_CreateUserRequest, context: ServerContext) async throws
        -> Crm_Gateway_V1_CreateUserResponse {
        try principal(context).requireAdmin("CreateUser")
        var problems = FieldErrors()
        let name = problems.require("name", request.name)
        problems.maxLength("name", name, 200)
        let email = Self.validEmail(request.email, &problems)
        if request.role.callerRole == nil { problems.add("role", "must be ROLE_REP, ROLE_MANAGER or ROLE_ADMIN") }
        if request.leadCapacity < 0 { problems.add("lead_capacity", "must not be negative") }
        problems.maxLength("request_id", request.requestId, 200)
        try problems.throwIfAny()
        let now = clock.nowMs()
        let (response, replayed) = try await writeDirectory { db in
            try Idempotency.run(db, scope: "CreateUser", requestID: request.requestId, request: request, nowMs: now) {
                var references = FieldErrors()
                var managerID = request.managerId
                if !request.teamId.isEmpty {
                    if let team = try DirectoryRows.fetchTeam(db, id: request.teamId) {
                        if managerID.isEmpty, team.managerId != "" { managerID = team.managerId }
                    } else {
                        references.add("team_id", "no team '\(request.teamId)'")
                    }
                }
                if !request.managerId.isEmpty, try DirectoryRows.fetchUser(db, id: request.managerId) == nil {
                    references.add("manager_id", "no user '\(request.managerId)'")
                }
                try references.throwIfAny()
                if !email.isEmpty, let existing = try DirectoryRows.fetchUser(db, email: email) {
                    throw RPCError(.alreadyExists, "email: \(email) already belongs to user \(existing.id)")
                }
                let user = Crm_Gateway_V1_User(
                    id: RecordID.make("usr", nowMs: now), version: 1, name: name, email: email, role: request.role,
                    teamId: request.teamId, managerId: managerID, active: true, leadCapacity: request.leadCapacity,
                    createdAtMs: now, updatedAtMs: now)
                try DirectoryRows.insert(db, user)
                // A manager created into a team that has none becomes its manager.
                if user.role == .manager, !user.teamId.isEmpty {
                    try db.execute(sql: "UPDATE teams SET manager_id = ?, version = version + 1 WHERE id = ? AND manager_id = ''",
                                   arguments: [user.id, user.teamId])
                }
                return Crm_Gateway_V1_CreateUserResponse(user: user)
            }
        }
        var answer = response
        answer.replayed = replayed
        return answer
    }

    func getUser(_ request: Crm_Gateway_V1_GetUserRequest, context: ServerContext) async throws -> Crm_Gateway_V1_GetUserResponse {
        _ = try principal(context)
        guard !request.userId.isEmpty else { throw RPCError(.invalidArgument, "user_id: required") }
        let now = clock.nowMs()
        guard let user = try await store.read({ db in try DirectoryRows.fetchUser(db, id: request.userId) }) else {
            throw RPCError(.notFound, "user '\(request.userId)' not found")
        }
        return Crm_Gateway_V1_GetUserResponse(user: Self.presented(user, now: now))
    }

    func listUsers(_ request: Crm_Gateway_V1_ListUsersRequest, context: ServerContext) async throws -> Crm_Gateway_V1_ListUsersResponse {
        _ = try principal(context)
        var problems = FieldErrors()
        if request.userIds.count > 500 { problems.add("user_ids", "at most 500, got \(request.userIds.count)") }
        if request.pageSize < 0 { problems.add("page_size", "must not be negative") }
        for role in request.roles where role.callerRole == nil { problems.add("roles", "\(role.rawValue) is not a role") }
        try problems.throwIfAny()
        let size = try PageToken.pageSize(request.pageSize)
        let after = try PageToken.decode(request.pageToken, parts: 1)?[0] ?? ""
        let now = clock.nowMs()
        let rows = try await store.read { db -> [Crm_Gateway_V1_User] in
            var sql = "SELECT \(DirectoryRows.userColumns) FROM users WHERE id > ?"
            var arguments: StatementArguments = [after]
            if !request.teamId.isEmpty { sql += " AND team_id = ?"; arguments += [request.teamId] }
            if !request.includeInactive { sql += " AND active = 1" }
            if !request.roles.isEmpty {
                sql += " AND role IN (\(Array(repeating: "?", count: request.roles.count).joined(separator: ",")))"
                arguments += StatementArguments(request.roles.map(\.rawValue))
            }
            if !request.userIds.isEmpty {
                sql += " AND id IN (\(Array(repeating: "?", count: request.userIds.count).joined(separator: ",")))"
                arguments += StatementArguments(request.userIds)
            }
            sql += " ORDER BY id LIMIT ?"
            arguments += [size + 1]
            return try Row.fetchAll(db, sql: sql, arguments: arguments).map(DirectoryRows.user)
        }
        var response = Crm_Gateway_V1_ListUsersResponse(users: rows.prefix(size).map { Self.presented($0, now: now) })
        if rows.count > size, let last = response.users.last { response.nextPageToken = PageToken.encode([last.id]) }
        return response
    }

    func updateUser(_ request: Crm_Gateway_V1_UpdateUserRequest, context: ServerContext) async throws
        -> Crm_Gateway_V1_UpdateUserResponse {
        let caller = try principal(context)
        _ = try caller.requirePerson("UpdateUser")
        var problems = FieldErrors()
        if request.userId.isEmpty { problems.add("user_id", "required") }
        if request.version <= 0 { problems.add("version", "required (the version being changed)") }
        let name = request.name.map { requested in
            problems.maxLength("name", requested, 200)
            return problems.require("name", requested)
        }
        let email = request.email.map { Self.validEmail($0, &problems) }
        if let role = request.role, role.callerRole == nil { problems.add("role", "must be ROLE_REP, ROLE_MANAGER or ROLE_ADMIN") }
        if let capacity = request.leadCapacity, capacity < 0 { problems.add("lead_capacity", "must not be negative") }
        if let until = request.outOfOfficeUntilMs, until < 0 { problems.add("out_of_office_until_ms", "must not be negative") }
        try problems.throwIfAny()

        let now = clock.nowMs()
        let updated = try await writeDirectory { db -> Crm_Gateway_V1_User in
            guard var user = try DirectoryRows.fetchUser(db, id: request.userId) else {
                throw RPCError(.notFound, "user '\(request.userId)' not found")
            }
            try Self.authorizeUpdate(request, of: user, by: caller)
            guard user.version == request.version else {
                throw RPCError(.aborted, "user \(user.id) is at version \(user.version), not \(request.version)")
            }
            var references = FieldErrors()
            if let teamID = request.teamId, !teamID.isEmpty, try DirectoryRows.fetchTeam(db, id: teamID) == nil {
                references.add("team_id", "no team '\(teamID)'")
            }
            if let managerID = request.managerId, !managerID.isEmpty {
                if managerID == user.id { references.add("manager_id", "a user cannot manage themselves") }
                else if try DirectoryRows.fetchUser(db, id: managerID) == nil { references.add("manager_id", "no user '\(managerID)'") }
            }
            try references.throwIfAny()
            if let email, !email.isEmpty, let owner = try DirectoryRows.fetchUser(db, email: email), owner.id != user.id {
                throw RPCError(.alreadyExists, "email: \(email) already belongs to user \(owner.id)")
            }
            if let name { user.name = name }
            if let email { user.email = email }
            if let role = request.role { user.role = role }
            if let teamID = request.teamId { user.teamId = teamID }
            if let managerID = request.managerId { user.managerId = managerID }
            if let outOfOffice = request.outOfOffice {
                user.outOfOffice = outOfOffice
                if !outOfOffice, request.outOfOfficeUntilMs == nil { user.outOfOfficeUntilMs = 0 }
            }
            if let until = request.outOfOfficeUntilMs { user.outOfOfficeUntilMs = until }
            if let capacity = request.leadCapacity { user.leadCapacity = capacity }
            user.version += 1
            user.updatedAtMs = now
            try DirectoryRows.update(db, user)
            return user
        }
        return Crm_Gateway_V1_UpdateUserResponse(user: Self.presented(updated, now: now))
    }

    func deactivateUser(_ request: Crm_Gateway_V1_DeactivateUserRequest, context: ServerContext) async throws
        -> Crm_Gateway_V1_DeactivateUserResponse {
        let caller = try principal(context)
        try caller.requireAdmin("DeactivateUser")
        var problems = FieldErrors()
        if request.userId.isEmpty { problems.add("user_id", "required") }
        if request.version <= 0 { problems.add("version", "required (the version being changed)") }
        problems.maxLength("reason", request.reason, 1000)
        try problems.throwIfAny()
        guard request.userId != caller.user.id else {
            throw RPCError(.failedPrecondition, "an admin cannot deactivate themselves; ask another admin")
        }
        let now = clock.nowMs()
        let revokedBy = caller.user.id
        return try await writeDirectory { db in
            guard var user = try DirectoryRows.fetchUser(db, id: request.userId) else {
                throw RPCError(.notFound, "user '\(request.userId)' not found")
            }
            guard user.version == request.version else {
                throw RPCError(.aborted, "user \(user.id) is at version \(user.version), not \(request.version)")
            }
            guard user.active else { throw RPCError(.failedPrecondition, "user \(user.id) is already deactivated") }
            user.active = false
            user.deactivatedAtMs = now
            user.deactivationReason = request.reason.trimmingCharacters(in: .whitespacesAndNewlines)
            user.version += 1
            user.updatedAtMs = now
            try DirectoryRows.update(db, user)
            try db.execute(sql: """
                UPDATE tokens SET revoked = 1, revoked_at_ms = ?, revoked_by = ?, revoke_reason = 'user deactivated'
                WHERE user_id = ? AND revoked = 0
                """, arguments: [now, revokedBy, user.id])
            return Crm_Gateway_V1_DeactivateUserResponse(user: user, revokedTokens: Int32(db.changesCount))
        }
    }

    // MARK: Rules

    /// Who may change what (gateway.proto UpdateUser): an admin anything; a manager the availability
    /// and lead capacity of their team; anyone their own out-of-office.
    static func authorizeUpdate(_ request: Crm_Gateway_V1_UpdateUserRequest, of user: Crm_Gateway_V1_User,
                                by caller: Principal) throws {
        if caller.isAdmin { return }
        var allowed: Set<String> = []
        if caller.user.id == user.id { allowed.formUnion(["out_of_office", "out_of_office_until_ms"]) }
        if caller.isManager, !caller.user.teamId.isEmpty, caller.user.teamId == user.teamId {
            allowed.formUnion(["out_of_office", "out_of_office_until_ms", "lead_capacity"])
        }
        var requested: [String] = []
        if request.name != nil { requested.append("name") }
        if request.email != nil { requested.append("email") }
        if request.role != nil { requested.append("role") }
        if request.teamId != nil { requested.append("team_id") }
        if request.managerId != nil { requested.append("manager_id") }
        if request.outOfOffice != nil { requested.append("out_of_office") }
        if request.outOfOfficeUntilMs != nil { requested.append("out_of_office_until_ms") }
        if request.leadCapacity != nil { requested.append("lead_capacity") }
        let denied = requested.filter { !allowed.contains($0) }
        if allowed.isEmpty { throw RPCError(.permissionDenied, "\(caller.user.id) may not change user \(user.id)") }
        if !denied.isEmpty {
            throw RPCError(.permissionDenied, "\(caller.user.id) may not change \(denied.joined(separator: ", ")) of user \(user.id)")
        }
    }

    /// Empty stays empty (email is optional); anything else must be an address, normalised.
    static func validEmail(_ raw: String, _ problems: inout FieldErrors) -> String {
        let trimmed = raw.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !trimmed.isEmpty else { return "" }
        guard let email = ContactPoint.normalizeEmail(trimmed) else {
            problems.add("email", "not an email address")
            return ""
        }
        return email
    }

    /// A user as the API shows it: out of office only while the absence lasts (R2 assignment reads it).
    static func presented(_ user: Crm_Gateway_V1_User, now: Int64) -> Crm_Gateway_V1_User {
        var user = user
        if user.outOfOffice, user.outOfOfficeUntilMs > 0, now >= user.outOfOfficeUntilMs { user.outOfOffice = false }
        return user
    }
}
