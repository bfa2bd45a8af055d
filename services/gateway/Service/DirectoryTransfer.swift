import CRMProto
import GRDB
import RPCCore
import ServiceRuntime

/// Admin backup and restore of the directory: teams, then users, then tokens (hashes, never secrets,
/// so restored tokens keep working). Import restores records as they were exported, by id.
extension GatewayHandler {
    func exportDirectory(_ request: Crm_Gateway_V1_ExportDirectoryRequest,
                         responses: ResponseWriter<Crm_Gateway_V1_ExportDirectoryResponse>,
                         context: ServerContext) async throws {
        try principal(context).requireAdmin("ExportDirectory")
        // One read transaction: a consistent snapshot even while the directory changes.
        let records = try await store.read { db -> [Crm_Gateway_V1_DirectoryExportRecord] in
            var records: [Crm_Gateway_V1_DirectoryExportRecord] = []
            for row in try Row.fetchAll(db, sql: DirectoryRows.teamSelect + " ORDER BY t.id") {
                records.append(Crm_Gateway_V1_DirectoryExportRecord(team: DirectoryRows.team(row)))
            }
            let userFilter = request.includeInactive ? "" : " WHERE active = 1"
            for row in try Row.fetchAll(db, sql: "SELECT \(DirectoryRows.userColumns) FROM users\(userFilter) ORDER BY id") {
                records.append(Crm_Gateway_V1_DirectoryExportRecord(user: DirectoryRows.user(row)))
            }
            if request.includeTokens {
                let tokenFilter = request.includeInactive ? "" : " WHERE user_id IN (SELECT id FROM users WHERE active = 1)"
                for row in try Row.fetchAll(db, sql: "SELECT \(DirectoryRows.tokenColumns) FROM tokens\(tokenFilter) ORDER BY id") {
                    records.append(Crm_Gateway_V1_DirectoryExportRecord(token: Crm_Gateway_V1_TokenExport(
                        info: DirectoryRows.tokenInfo(row), tokenHash: row["token_hash"])))
                }
            }
            return records
        }
        for record in records {
            try await responses.write(Crm_Gateway_V1_ExportDirectoryResponse(record: record))
        }
    }

    func importDirectory(_ requests: RequestStream<Crm_Gateway_V1_ImportDirectoryRequest>, context: ServerContext) async throws
        -> Crm_Gateway_V1_ImportDirectoryResponse {
        try principal(context).requireAdmin("ImportDirectory")
        var records: [Crm_Gateway_V1_DirectoryExportRecord] = []
        var dryRun: Bool?
        for try await item in requests {
            if dryRun == nil { dryRun = item.dryRun }
            records.append(item.record ?? Crm_Gateway_V1_DirectoryExportRecord())
            if records.count > 100_000 { throw RPCError(.resourceExhausted, "at most 100000 records per import") }
        }
        let onlyCheck = dryRun ?? false
        let batch = records
        return try await writeDirectory { db in
            var response = Crm_Gateway_V1_ImportDirectoryResponse()
            for (index, record) in batch.enumerated() {
                var result = Crm_Gateway_V1_DirectoryImportResult(rowNumber: Int64(index + 1))
                do {
                    // A savepoint per record: a failed one leaves nothing behind, the others still land.
                    try db.inSavepoint {
                        let (id, unchanged) = try Self.restore(record, db)
                        result.recordId = id
                        result.unchanged = unchanged
                        return onlyCheck ? .rollback : .commit
                    }
                    result.ok = true
                    if result.unchanged { response.unchanged += 1 } else { response.imported += 1 }
                } catch let error as RPCError {
                    result.message = error.description
                    response.failed += 1
                } catch let error as DatabaseError {
                    result.message = "conflicts with an existing record: \(error.message ?? "\(error.resultCode)")"
                    response.failed += 1
                }
                response.results.append(result)
            }
            return response
        }
    }

    /// Writes one exported record as-is; returns its id and whether it was already identical.
    static func restore(_ record: Crm_Gateway_V1_DirectoryExportRecord, _ db: Database) throws -> (String, Bool) {
        let kinds = [record.user != nil, record.team != nil, record.token != nil].filter { $0 }.count
        guard kinds == 1 else { throw RPCError(.invalidArgument, "record: exactly one of user, team, token must be set") }
        if let team = record.team {
            var problems = FieldErrors()
            problems.require("team.id", team.id)
            problems.require("team.name", team.name)
            try problems.throwIfAny()
            if var existing = try DirectoryRows.fetchTeam(db, id: team.id) {
                existing.memberCount = team.memberCount
                if existing == team { return (team.id, true) }
                try db.execute(sql: "UPDATE teams SET version = ?, name = ?, name_key = ?, manager_id = ?, created_at_ms = ? WHERE id = ?",
                               arguments: [team.version, team.name, DirectoryRows.nameKey(team.name), team.managerId,
                                           team.createdAtMs, team.id])
            } else {
                try DirectoryRows.insert(db, team)
            }
            return (team.id, false)
        }
        if let user = record.user {
            var problems = FieldErrors()
            problems.require("user.id", user.id)
            problems.require("user.name", user.name)
            if user.role.callerRole == nil { problems.add("user.role", "must be ROLE_REP, ROLE_MANAGER or ROLE_ADMIN") }
            if !user.email.isEmpty, ContactPoint.normalizeEmail(user.email) != user.email {
                problems.add("user.email", "not a normalised email address")
            }
            try problems.throwIfAny()
            if let existing = try DirectoryRows.fetchUser(db, id: user.id) {
                if existing == user { return (user.id, true) }
                try DirectoryRows.update(db, user)
            } else {
                try DirectoryRows.insert(db, user)
            }
            return (user.id, false)
        }
        let token = record.token!
        let info = token.info ?? Crm_Gateway_V1_TokenInfo()
        var problems = FieldErrors()
        problems.require("token.info.id", info.id)
        problems.require("token.info.user_id", info.userId)
        if !TokenSecret.isValidHash(token.tokenHash) { problems.add("token.token_hash", "expected 64 lower-case hex digits") }
        try problems.throwIfAny()
        guard try DirectoryRows.fetchUser(db, id: info.userId) != nil else {
            throw RPCError(.failedPrecondition, "token.info.user_id: no user '\(info.userId)' (import users first)")
        }
        var restored = info
        if let row = try Row.fetchOne(db, sql: "SELECT \(DirectoryRows.tokenColumns) FROM tokens WHERE id = ?", arguments: [info.id]) {
            // Last use is telemetry, not directory content: it never makes a record "changed" and
            // never moves back.
            var existing = DirectoryRows.tokenInfo(row)
            restored.lastUsedAtMs = max(existing.lastUsedAtMs, info.lastUsedAtMs)
            existing.lastUsedAtMs = restored.lastUsedAtMs
            if existing == restored, row["token_hash"] as String == token.tokenHash { return (info.id, true) }
            try db.execute(sql: "DELETE FROM tokens WHERE id = ?", arguments: [info.id])
        }
        try DirectoryRows.insert(db, restored, hash: token.tokenHash)
        return (info.id, false)
    }
}
