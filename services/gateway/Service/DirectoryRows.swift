import Foundation
import CRMProto
import GRDB
import RPCCore

/// Reading and writing directory rows as the proto messages the API speaks. Every statement binds
/// its parameters; nothing is built from input.
enum DirectoryRows {
    // MARK: Users

    static let userColumns = """
        id, version, name, email, role, team_id, manager_id, active, out_of_office, out_of_office_until_ms,
        lead_capacity, created_at_ms, updated_at_ms, deactivated_at_ms, deactivation_reason
        """

    static func user(_ row: Row) -> Crm_Gateway_V1_User {
        Crm_Gateway_V1_User(
            id: row["id"], version: row["version"], name: row["name"], email: row["email"],
            role: Crm_Gateway_V1_Role(rawValue: row["role"]), teamId: row["team_id"], managerId: row["manager_id"],
            active: row["active"], outOfOffice: row["out_of_office"], outOfOfficeUntilMs: row["out_of_office_until_ms"],
            leadCapacity: row["lead_capacity"], createdAtMs: row["created_at_ms"], updatedAtMs: row["updated_at_ms"],
            deactivatedAtMs: row["deactivated_at_ms"], deactivationReason: row["deactivation_reason"])
    }

    static func fetchUser(_ db: Database, id: String) throws -> Crm_Gateway_V1_User? {
        try Row.fetchOne(db.cachedStatement(sql: "SELECT \(userColumns) FROM users WHERE id = ?"), arguments: [id]).map(user)
    }

    static func fetchUser(_ db: Database, email: String) throws -> Crm_Gateway_V1_User? {
        try Row.fetchOne(db, sql: "SELECT \(userColumns) FROM users WHERE email = ?", arguments: [email]).map(user)
    }

    static func insert(_ db: Database, _ u: Crm_Gateway_V1_User) throws {
        try db.execute(sql: """
            INSERT INTO users (\(userColumns)) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """, arguments: [u.id, u.version, u.name, u.email, u.role.rawValue, u.teamId, u.managerId, u.active,
                             u.outOfOffice, u.outOfOfficeUntilMs, u.leadCapacity, u.createdAtMs, u.updatedAtMs,
                             u.deactivatedAtMs, u.deactivationReason])
    }

    /// Writes every column of an existing user (callers bump version and updated_at first).
    static func update(_ db: Database, _ u: Crm_Gateway_V1_User) throws {
        try db.execute(sql: """
            UPDATE users SET version = ?, name = ?, email = ?, role = ?, team_id = ?, manager_id = ?, active = ?,
                out_of_office = ?, out_of_office_until_ms = ?, lead_capacity = ?, created_at_ms = ?, updated_at_ms = ?,
                deactivated_at_ms = ?, deactivation_reason = ?
            WHERE id = ?
            """, arguments: [u.version, u.name, u.email, u.role.rawValue, u.teamId, u.managerId, u.active,
                             u.outOfOffice, u.outOfOfficeUntilMs, u.leadCapacity, u.createdAtMs, u.updatedAtMs,
                             u.deactivatedAtMs, u.deactivationReason, u.id])
    }

    // MARK: Teams

    static func team(_ row: Row) -> Crm_Gateway_V1_Team {
        Crm_Gateway_V1_Team(id: row["id"], version: row["version"], name: row["name"], managerId: row["manager_id"],
                            memberCount: row["member_count"], createdAtMs: row["created_at_ms"])
    }

    /// Teams with their count of active members.
    static let teamSelect = """
        SELECT t.id, t.version, t.name, t.manager_id, t.created_at_ms,
               (SELECT COUNT(*) FROM users u WHERE u.team_id = t.id AND u.active = 1) AS member_count
        FROM teams t
        """

    static func fetchTeam(_ db: Database, id: String) throws -> Crm_Gateway_V1_Team? {
        try Row.fetchOne(db, sql: teamSelect + " WHERE t.id = ?", arguments: [id]).map(team)
    }

    /// Team names are unique regardless of case and surrounding space.
    static func nameKey(_ name: String) -> String {
        name.trimmingCharacters(in: .whitespacesAndNewlines).lowercased()
    }

    static func insert(_ db: Database, _ t: Crm_Gateway_V1_Team) throws {
        try db.execute(sql: """
            INSERT INTO teams (id, version, name, name_key, manager_id, created_at_ms) VALUES (?, ?, ?, ?, ?, ?)
            """, arguments: [t.id, t.version, t.name, nameKey(t.name), t.managerId, t.createdAtMs])
    }

    // MARK: Tokens

    static let tokenColumns = """
        id, user_id, name, prefix, token_hash, created_at_ms, expires_at_ms, last_used_at_ms, revoked,
        revoked_at_ms, revoked_by
        """

    static func tokenInfo(_ row: Row) -> Crm_Gateway_V1_TokenInfo {
        Crm_Gateway_V1_TokenInfo(
            id: row["id"], userId: row["user_id"], name: row["name"], prefix: row["prefix"],
            createdAtMs: row["created_at_ms"], expiresAtMs: row["expires_at_ms"], lastUsedAtMs: row["last_used_at_ms"],
            revoked: row["revoked"], revokedAtMs: row["revoked_at_ms"], revokedBy: row["revoked_by"])
    }

    static func fetchToken(_ db: Database, id: String) throws -> Crm_Gateway_V1_TokenInfo? {
        try Row.fetchOne(db, sql: "SELECT \(tokenColumns) FROM tokens WHERE id = ?", arguments: [id]).map(tokenInfo)
    }

    static func insert(_ db: Database, _ t: Crm_Gateway_V1_TokenInfo, hash: String) throws {
        try db.execute(sql: """
            INSERT INTO tokens (\(tokenColumns)) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """, arguments: [t.id, t.userId, t.name, t.prefix, hash, t.createdAtMs, t.expiresAtMs, t.lastUsedAtMs,
                             t.revoked, t.revokedAtMs, t.revokedBy])
    }
}

extension Crm_Gateway_V1_Role {
    /// The role as forwarded in x-crm-role; nil for values that are not a role.
    var callerRole: String? {
        switch self {
        case .rep: "rep"
        case .manager: "manager"
        case .admin: "admin"
        default: nil
        }
    }
}
