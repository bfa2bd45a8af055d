import CRMStore
import GRDB
import ServiceRuntime

/// crm-forecast's own SQLite schema. Opportunity facts and their history are copies of what
/// crm-opportunities and crm-leads published (events and the export feed); targets, settings,
/// fitted models and snapshots are this service's own records.
public enum ForecastSchema {
    public static let migrations: [Migration] = [
        Migration(1, "facts") { db in
            try db.execute(sql: """
                CREATE TABLE deal (
                    id TEXT PRIMARY KEY,
                    agg_version INTEGER NOT NULL DEFAULT 0,
                    title TEXT NOT NULL DEFAULT '',
                    customer_id TEXT NOT NULL DEFAULT '',
                    customer_name TEXT NOT NULL DEFAULT '',
                    owner_id TEXT NOT NULL DEFAULT '',
                    team_id TEXT NOT NULL DEFAULT '',
                    lead_id TEXT NOT NULL DEFAULT '',
                    source INTEGER NOT NULL DEFAULT 0,
                    currency TEXT NOT NULL DEFAULT '',
                    amount_cents INTEGER NOT NULL DEFAULT 0,
                    stage INTEGER NOT NULL,
                    status INTEGER NOT NULL,
                    stage_entered_ms INTEGER NOT NULL DEFAULT 0,
                    expected_close_date TEXT NOT NULL DEFAULT '',
                    created_ms INTEGER NOT NULL DEFAULT 0,
                    closed_ms INTEGER NOT NULL DEFAULT 0,
                    signed_amount_cents INTEGER NOT NULL DEFAULT 0,
                    signed_date TEXT NOT NULL DEFAULT '',
                    key_person_present INTEGER NOT NULL DEFAULT 1,
                    key_person_confirmed INTEGER NOT NULL DEFAULT 0,
                    key_person_met INTEGER NOT NULL DEFAULT 0,
                    face_to_face_held INTEGER NOT NULL DEFAULT 0,
                    quoted INTEGER NOT NULL DEFAULT 0,
                    follow_up_count INTEGER NOT NULL DEFAULT 0,
                    first_follow_up_ms INTEGER NOT NULL DEFAULT 0,
                    last_follow_up_ms INTEGER NOT NULL DEFAULT 0,
                    last_action_ms INTEGER NOT NULL DEFAULT 0,
                    synced_fu30 INTEGER NOT NULL DEFAULT 0,
                    synced_at_ms INTEGER NOT NULL DEFAULT 0,
                    risk_level INTEGER NOT NULL DEFAULT 1,
                    risk_yellow INTEGER NOT NULL DEFAULT 0,
                    risk_red INTEGER NOT NULL DEFAULT 0,
                    next_step_due_ms INTEGER NOT NULL DEFAULT 0,
                    open_task_count INTEGER NOT NULL DEFAULT 0,
                    overdue_task_count INTEGER NOT NULL DEFAULT 0,
                    oldest_overdue_due_ms INTEGER NOT NULL DEFAULT 0,
                    closed_from_stage INTEGER NOT NULL DEFAULT 0,
                    loss_review BLOB,
                    cf_stage INTEGER,
                    cf_key_person INTEGER,
                    cf_quote INTEGER,
                    cf_face_to_face INTEGER,
                    cf_days_to_close INTEGER,
                    cf_follow_ups INTEGER,
                    cf_yellow INTEGER,
                    cf_red INTEGER,
                    updated_ms INTEGER NOT NULL DEFAULT 0
                );
                CREATE TABLE follow_up (
                    id TEXT PRIMARY KEY,
                    opportunity_id TEXT NOT NULL,
                    customer_id TEXT NOT NULL,
                    owner_id TEXT NOT NULL,
                    team_id TEXT NOT NULL,
                    type INTEGER NOT NULL,
                    face_to_face INTEGER NOT NULL,
                    key_person_met INTEGER NOT NULL,
                    occurred_ms INTEGER NOT NULL
                );
                CREATE INDEX follow_up_time ON follow_up (occurred_ms);
                CREATE INDEX follow_up_opportunity ON follow_up (opportunity_id) WHERE opportunity_id <> '';
                CREATE TABLE stage_change (
                    opportunity_id TEXT NOT NULL,
                    at_ms INTEGER NOT NULL,
                    to_stage INTEGER NOT NULL,
                    from_stage INTEGER NOT NULL,
                    backwards INTEGER NOT NULL,
                    time_in_from_ms INTEGER NOT NULL,
                    actor_id TEXT NOT NULL,
                    PRIMARY KEY (opportunity_id, at_ms, to_stage)
                ) WITHOUT ROWID;
                CREATE INDEX stage_change_time ON stage_change (at_ms);
                CREATE TABLE risk_flag (
                    opportunity_id TEXT NOT NULL,
                    kind INTEGER NOT NULL,
                    raised_ms INTEGER NOT NULL,
                    level INTEGER NOT NULL,
                    cleared_ms INTEGER NOT NULL DEFAULT 0,
                    PRIMARY KEY (opportunity_id, kind, raised_ms)
                ) WITHOUT ROWID;
                CREATE INDEX risk_flag_time ON risk_flag (raised_ms);
                CREATE TABLE lead (
                    id TEXT PRIMARY KEY,
                    source INTEGER NOT NULL DEFAULT 0,
                    owner_id TEXT NOT NULL DEFAULT '',
                    team_id TEXT NOT NULL DEFAULT '',
                    company TEXT NOT NULL DEFAULT '',
                    status INTEGER NOT NULL DEFAULT 0,
                    created_ms INTEGER NOT NULL DEFAULT 0,
                    assigned_ms INTEGER NOT NULL DEFAULT 0,
                    deadline_ms INTEGER NOT NULL DEFAULT 0,
                    activated_ms INTEGER NOT NULL DEFAULT 0,
                    reclaim_count INTEGER NOT NULL DEFAULT 0,
                    opportunity_id TEXT NOT NULL DEFAULT ''
                );
                CREATE TABLE lead_assignment (
                    lead_id TEXT NOT NULL,
                    assigned_ms INTEGER NOT NULL,
                    owner_id TEXT NOT NULL,
                    team_id TEXT NOT NULL,
                    deadline_ms INTEGER NOT NULL,
                    activated_ms INTEGER NOT NULL DEFAULT 0,
                    reclaimed_ms INTEGER NOT NULL DEFAULT 0,
                    PRIMARY KEY (lead_id, assigned_ms)
                ) WITHOUT ROWID;
                CREATE INDEX lead_assignment_time ON lead_assignment (assigned_ms);
                CREATE TABLE sync_state (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
                """)
            try EventTables.create(db)
            try Idempotency.createTable(db)
        },
        Migration(2, "results") { db in
            try db.execute(sql: """
                CREATE TABLE settings (id INTEGER PRIMARY KEY CHECK (id = 1), body BLOB NOT NULL, version INTEGER NOT NULL);
                CREATE TABLE targets (period TEXT PRIMARY KEY, body BLOB NOT NULL, version INTEGER NOT NULL);
                CREATE TABLE model (
                    id TEXT PRIMARY KEY,
                    fitted_ms INTEGER NOT NULL,
                    training_deals INTEGER NOT NULL,
                    holdout_brier REAL NOT NULL,
                    weights BLOB NOT NULL,
                    active INTEGER NOT NULL
                );
                CREATE TABLE snapshot (
                    id TEXT PRIMARY KEY,
                    period TEXT NOT NULL,
                    currency TEXT NOT NULL,
                    taken_ms INTEGER NOT NULL,
                    trigger INTEGER NOT NULL,
                    body BLOB NOT NULL
                );
                CREATE INDEX snapshot_period ON snapshot (period, taken_ms);
                CREATE TABLE closed_period (
                    period TEXT NOT NULL,
                    currency TEXT NOT NULL,
                    snapshot_id TEXT NOT NULL,
                    closed_ms INTEGER NOT NULL,
                    PRIMARY KEY (period, currency)
                ) WITHOUT ROWID;
                """)
        },
    ]
}

/// Small persisted counters and cursors (export-feed cursor, schedule marks).
enum SyncState {
    static func get(_ db: Database, _ key: String) throws -> Int64 {
        try Int64.fetchOne(db, sql: "SELECT value FROM sync_state WHERE key = ?", arguments: [key]) ?? 0
    }

    static func set(_ db: Database, _ key: String, _ value: Int64) throws {
        try db.execute(sql: """
            INSERT INTO sync_state (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value
            """, arguments: [key, value])
    }
}
