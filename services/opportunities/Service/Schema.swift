import CRMStore
import GRDB
import ServiceRuntime

/// The versioned schema of crm-opportunities' own SQLite store.
///
/// Each entity is stored as its canonical protobuf record (`record` BLOB, the contract's own type, so
/// nothing is lost between the API and the store) next to the columns that queries filter, sort and
/// join on. Those projection columns are written from the record by one `save` function per table
/// (Tables.swift), so they can never drift from it.
public enum OpportunitiesSchema {
    public static let migrations: [Migration] = [
        Migration(1, "opportunities") { db in
            try db.execute(sql: """
                CREATE TABLE opportunities (
                    id TEXT PRIMARY KEY,
                    version INTEGER NOT NULL,
                    customer_id TEXT NOT NULL,
                    lead_id TEXT,
                    owner_id TEXT NOT NULL,
                    team_id TEXT NOT NULL,
                    stage INTEGER NOT NULL,
                    status INTEGER NOT NULL,
                    close_date TEXT NOT NULL,
                    amount_cents INTEGER NOT NULL,
                    currency TEXT NOT NULL,
                    key_person_contact_id TEXT NOT NULL,
                    title TEXT NOT NULL,
                    customer_name TEXT NOT NULL,
                    risk_level INTEGER NOT NULL,
                    risk_since_ms INTEGER NOT NULL,
                    snoozed_until_ms INTEGER NOT NULL,
                    created_at_ms INTEGER NOT NULL,
                    updated_at_ms INTEGER NOT NULL,
                    last_follow_up_at_ms INTEGER NOT NULL,
                    changed_at_ms INTEGER NOT NULL,
                    record BLOB NOT NULL
                );
                CREATE UNIQUE INDEX opportunities_by_lead ON opportunities (lead_id) WHERE lead_id IS NOT NULL;
                CREATE INDEX opportunities_by_owner ON opportunities (owner_id, status);
                CREATE INDEX opportunities_by_team ON opportunities (team_id, status);
                CREATE INDEX opportunities_by_customer ON opportunities (customer_id, status);
                CREATE INDEX opportunities_by_risk ON opportunities (status, risk_level, risk_since_ms);
                CREATE INDEX opportunities_by_change ON opportunities (changed_at_ms);
                CREATE INDEX opportunities_by_key_person ON opportunities (key_person_contact_id) WHERE status = 1;

                CREATE TABLE stage_changes (
                    id TEXT PRIMARY KEY,
                    opportunity_id TEXT NOT NULL REFERENCES opportunities (id) DEFERRABLE INITIALLY DEFERRED,
                    at_ms INTEGER NOT NULL,
                    record BLOB NOT NULL
                );
                CREATE INDEX stage_changes_by_opportunity ON stage_changes (opportunity_id, at_ms);

                CREATE TABLE follow_ups (
                    id TEXT PRIMARY KEY,
                    opportunity_id TEXT REFERENCES opportunities (id) DEFERRABLE INITIALLY DEFERRED,
                    customer_id TEXT NOT NULL,
                    owner_id TEXT NOT NULL,
                    team_id TEXT NOT NULL,
                    type INTEGER NOT NULL,
                    occurred_at_ms INTEGER NOT NULL,
                    record BLOB NOT NULL
                );
                CREATE INDEX follow_ups_by_opportunity ON follow_ups (opportunity_id, occurred_at_ms);
                CREATE INDEX follow_ups_by_customer ON follow_ups (customer_id, occurred_at_ms);
                CREATE INDEX follow_ups_by_owner ON follow_ups (owner_id, occurred_at_ms);

                CREATE TABLE tasks (
                    id TEXT PRIMARY KEY,
                    version INTEGER NOT NULL,
                    owner_id TEXT NOT NULL,
                    team_id TEXT NOT NULL,
                    status INTEGER NOT NULL,
                    due_ms INTEGER NOT NULL,
                    opportunity_id TEXT REFERENCES opportunities (id) DEFERRABLE INITIALLY DEFERRED,
                    customer_id TEXT NOT NULL,
                    record BLOB NOT NULL
                );
                CREATE INDEX tasks_by_owner ON tasks (owner_id, status, due_ms);
                CREATE INDEX tasks_by_team ON tasks (team_id, status, due_ms);
                CREATE INDEX tasks_by_opportunity ON tasks (opportunity_id, status, due_ms);

                CREATE TABLE risk_flags (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    opportunity_id TEXT NOT NULL REFERENCES opportunities (id) DEFERRABLE INITIALLY DEFERRED,
                    kind INTEGER NOT NULL,
                    level INTEGER NOT NULL,
                    raised_at_ms INTEGER NOT NULL,
                    cleared_at_ms INTEGER NOT NULL DEFAULT 0
                );
                CREATE INDEX risk_flags_by_opportunity ON risk_flags (opportunity_id, cleared_at_ms);

                CREATE TABLE settings (
                    id INTEGER PRIMARY KEY CHECK (id = 1),
                    record BLOB NOT NULL
                );

                CREATE TABLE counters (
                    name TEXT PRIMARY KEY,
                    value INTEGER NOT NULL
                ) WITHOUT ROWID;
                INSERT INTO counters (name, value) VALUES ('event_sequence', 0);
                """)
            try Idempotency.createTable(db)
            try EventTables.create(db)
        },
    ]
}
