import CRMProto
import GRDB
import RPCCore
import ServiceRuntime

/// API tokens: issued (the secret shown once), listed (metadata only), revoked (effective at once);
/// and WhoAmI, the identity a token resolves to.
extension GatewayHandler {
    func issueToken(_ request: Crm_Gateway_V1_IssueTokenRequest, context: ServerContext) async throws
        -> Crm_Gateway_V1_IssueTokenResponse {
        let caller = try principal(context)
        let userID = request.userId.isEmpty ? caller.user.id : request.userId
        var problems = FieldErrors()
        if caller.kind == .bootstrapAdmin, request.userId.isEmpty {
            problems.add("user_id", "required with the bootstrap token (it has no user of its own)")
        }
        problems.maxLength("name", request.name, 200)
        problems.maxLength("request_id", request.requestId, 200)
        let now = clock.nowMs()
        if request.expiresAtMs < 0 { problems.add("expires_at_ms", "must not be negative") }
        else if request.expiresAtMs > 0, request.expiresAtMs <= now { problems.add("expires_at_ms", "must be in the future") }
        try problems.throwIfAny()
        guard caller.isAdmin || userID == caller.user.id else {
            throw RPCError(.permissionDenied, "\(caller.user.id) may only issue tokens for themselves")
        }
        // The secret never enters the idempotency record: a replay answers the same metadata, no secret.
        let secret = TokenSecret.generate()
        let (response, replayed) = try await writeDirectory { db in
            try Idempotency.run(db, scope: "IssueToken/\(caller.user.id)", requestID: request.requestId, request: request, nowMs: now) {
                guard let user = try DirectoryRows.fetchUser(db, id: userID) else {
                    throw RPCError(.notFound, "user '\(userID)' not found")
                }
                guard user.active else { throw RPCError(.failedPrecondition, "user \(user.id) is deactivated") }
                let info = Crm_Gateway_V1_TokenInfo(
                    id: RecordID.make("tok", nowMs: now), userId: user.id,
                    name: request.name.trimmingCharacters(in: .whitespacesAndNewlines),
                    prefix: TokenSecret.prefix(secret), createdAtMs: now, expiresAtMs: request.expiresAtMs)
                try DirectoryRows.insert(db, info, hash: TokenSecret.hash(secret))
                return Crm_Gateway_V1_IssueTokenResponse(info: info)
            }
        }
        var answer = response
        answer.replayed = replayed
        if !replayed { answer.token = secret }
        return answer
    }

    func listTokens(_ request: Crm_Gateway_V1_ListTokensRequest, context: ServerContext) async throws
        -> Crm_Gateway_V1_ListTokensResponse {
        let caller = try principal(context)
        if caller.kind == .bootstrapAdmin, request.userId.isEmpty {
            throw RPCError(.invalidArgument, "user_id: required with the bootstrap token (it has no user of its own)")
        }
        let userID = request.userId.isEmpty ? caller.user.id : request.userId
        guard caller.isAdmin || userID == caller.user.id else {
            throw RPCError(.permissionDenied, "\(caller.user.id) may only list their own tokens")
        }
        let tokens = try await store.read { db in
            var sql = "SELECT \(DirectoryRows.tokenColumns) FROM tokens WHERE user_id = ?"
            if !request.includeRevoked { sql += " AND revoked = 0" }
            return try Row.fetchAll(db, sql: sql + " ORDER BY id", arguments: [userID]).map(DirectoryRows.tokenInfo)
        }
        return Crm_Gateway_V1_ListTokensResponse(tokens: tokens)
    }

    func revokeToken(_ request: Crm_Gateway_V1_RevokeTokenRequest, context: ServerContext) async throws
        -> Crm_Gateway_V1_RevokeTokenResponse {
        let caller = try principal(context)
        var problems = FieldErrors()
        if request.tokenId.isEmpty { problems.add("token_id", "required") }
        problems.maxLength("reason", request.reason, 1000)
        try problems.throwIfAny()
        let now = clock.nowMs()
        let info = try await writeDirectory { db -> Crm_Gateway_V1_TokenInfo in
            // Someone else's token answers exactly like a missing one.
            guard let token = try DirectoryRows.fetchToken(db, id: request.tokenId),
                  caller.isAdmin || token.userId == caller.user.id else {
                throw RPCError(.notFound, "token '\(request.tokenId)' not found")
            }
            if token.revoked { return token }
            try db.execute(sql: "UPDATE tokens SET revoked = 1, revoked_at_ms = ?, revoked_by = ?, revoke_reason = ? WHERE id = ?",
                           arguments: [now, caller.user.id, request.reason, token.id])
            return try DirectoryRows.fetchToken(db, id: token.id) ?? token
        }
        return Crm_Gateway_V1_RevokeTokenResponse(info: info)
    }

    func whoAmI(_ request: Crm_Gateway_V1_WhoAmIRequest, context: ServerContext) async throws -> Crm_Gateway_V1_WhoAmIResponse {
        let caller = try principal(context)
        guard caller.kind != .service else { throw RPCError(.unauthenticated, "authorization: Bearer token required") }
        var response = Crm_Gateway_V1_WhoAmIResponse(user: caller.user, token: caller.token,
                                                     bootstrap: caller.kind == .bootstrapAdmin)
        if !caller.user.teamId.isEmpty {
            response.team = try await store.read { db in try DirectoryRows.fetchTeam(db, id: caller.user.teamId) }
        }
        return response
    }
}
