import CRMStore
import GRDB
import ServiceRuntime

/// The gateway's own store: the user directory (users, teams) and API tokens (hashes only), plus
/// the idempotency table that makes creates replayable by request_id. Public so crm-admin can migrate
/// and check a store offline.
public enum GatewaySchema {
    public static let migrations: [Migration] = [
        Migration(1, "directory") { db in
            try db.execute(sql: """
                CREATE TABLE teams (
                    id TEXT PRIMARY KEY,
                    version INTEGER NOT NULL,
                    name TEXT NOT NULL,
                    name_key TEXT NOT NULL UNIQUE,
                    manager_id TEXT NOT NULL DEFAULT '',
                    created_at_ms INTEGER NOT NULL
                ) WITHOUT ROWID;
                CREATE TABLE users (
                    id TEXT PRIMARY KEY,
                    version INTEGER NOT NULL,
                    name TEXT NOT NULL,
                    email TEXT NOT NULL DEFAULT '',
                    role INTEGER NOT NULL,
                    team_id TEXT NOT NULL DEFAULT '',
                    manager_id TEXT NOT NULL DEFAULT '',
                    active INTEGER NOT NULL DEFAULT 1,
                    out_of_office INTEGER NOT NULL DEFAULT 0,
                    out_of_office_until_ms INTEGER NOT NULL DEFAULT 0,
                    lead_capacity INTEGER NOT NULL DEFAULT 0,
                    created_at_ms INTEGER NOT NULL,
                    updated_at_ms INTEGER NOT NULL,
                    deactivated_at_ms INTEGER NOT NULL DEFAULT 0,
                    deactivation_reason TEXT NOT NULL DEFAULT ''
                ) WITHOUT ROWID;
                CREATE UNIQUE INDEX users_email ON users (email) WHERE email <> '';
                CREATE INDEX users_team ON users (team_id, id);
                CREATE TABLE tokens (
                    id TEXT PRIMARY KEY,
                    user_id TEXT NOT NULL,
                    name TEXT NOT NULL DEFAULT '',
                    prefix TEXT NOT NULL,
                    token_hash TEXT NOT NULL UNIQUE,
                    created_at_ms INTEGER NOT NULL,
                    expires_at_ms INTEGER NOT NULL DEFAULT 0,
                    last_used_at_ms INTEGER NOT NULL DEFAULT 0,
                    revoked INTEGER NOT NULL DEFAULT 0,
                    revoked_at_ms INTEGER NOT NULL DEFAULT 0,
                    revoked_by TEXT NOT NULL DEFAULT '',
                    revoke_reason TEXT NOT NULL DEFAULT ''
                ) WITHOUT ROWID;
                CREATE INDEX tokens_user ON tokens (user_id, id);
                """)
            try Idempotency.createTable(db)
        },
    ]
}
