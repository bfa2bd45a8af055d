import CRMStore
import GRDB
import ServiceRuntime

/// The crm-tickets store. Every table lives here so the whole schema can be read in one place;
/// later changes are new migrations appended to `migrations`, never edits of old ones.
public enum TicketsSchema {
    public static let migrations: [Migration] = [
        Migration(1, "tickets") { db in
            try createTickets(db)
            try createChildren(db)
            try createProjections(db)
            try createSettings(db)
            try EventTables.create(db)
            try Idempotency.createTable(db)
        },
    ]

    /// One row per ticket. Besides the fields of `crm.tickets.v1.Ticket` it keeps what the SLA clocks
    /// need to be evaluated at any instant: the targets in force, when a wait started, and breaches
    /// once seen (a breach is history and never un-happens, even if the priority changes later).
    static func createTickets(_ db: Database) throws {
        try db.execute(sql: """
            CREATE TABLE tickets (
                id TEXT PRIMARY KEY,
                version INTEGER NOT NULL,
                kind INTEGER NOT NULL,
                customer_id TEXT NOT NULL,
                customer_name TEXT NOT NULL DEFAULT '',
                opportunity_id TEXT NOT NULL DEFAULT '',
                title TEXT NOT NULL,
                details TEXT NOT NULL DEFAULT '',
                priority INTEGER NOT NULL,
                owner_id TEXT NOT NULL,
                team_id TEXT NOT NULL DEFAULT '',
                due_ms INTEGER NOT NULL DEFAULT 0,
                due_explicit INTEGER NOT NULL DEFAULT 0,
                status INTEGER NOT NULL,
                origin INTEGER NOT NULL,
                template_step TEXT NOT NULL DEFAULT '',
                resolution TEXT NOT NULL DEFAULT '',
                resolved_at_ms INTEGER NOT NULL DEFAULT 0,
                closed_at_ms INTEGER NOT NULL DEFAULT 0,
                reopen_count INTEGER NOT NULL DEFAULT 0,
                return_visit BLOB,
                comment_count INTEGER NOT NULL DEFAULT 0,
                created_by TEXT NOT NULL,
                created_at_ms INTEGER NOT NULL,
                updated_at_ms INTEGER NOT NULL,
                -- SLA clocks (see SlaClock.swift).
                response_due_ms INTEGER NOT NULL,
                resolution_due_ms INTEGER NOT NULL,
                warn_before_ms INTEGER NOT NULL DEFAULT 0,
                first_response_at_ms INTEGER NOT NULL DEFAULT 0,
                paused_ms INTEGER NOT NULL DEFAULT 0,
                waiting_since_ms INTEGER NOT NULL DEFAULT 0,
                response_breached_at_ms INTEGER,
                resolution_breached_at_ms INTEGER,
                -- What the last sweep saw, so a sweep reports only what is new.
                swept_response_state INTEGER NOT NULL DEFAULT 0,
                swept_resolution_state INTEGER NOT NULL DEFAULT 0
            );
            -- R9: one ticket per onboarding step per won opportunity, whatever happens to delivery.
            CREATE UNIQUE INDEX tickets_onboarding_step ON tickets (opportunity_id, template_step)
                WHERE template_step != '';
            CREATE INDEX tickets_owner ON tickets (owner_id, status);
            CREATE INDEX tickets_team ON tickets (team_id, status);
            CREATE INDEX tickets_customer ON tickets (customer_id);
            CREATE INDEX tickets_created ON tickets (created_at_ms, id);
            CREATE INDEX tickets_active ON tickets (status) WHERE status IN (1, 2, 3);
            """)
    }

    static func createChildren(_ db: Database) throws {
        try db.execute(sql: """
            CREATE TABLE comments (
                id TEXT PRIMARY KEY,
                ticket_id TEXT NOT NULL REFERENCES tickets (id),
                author_id TEXT NOT NULL,
                body TEXT NOT NULL,
                internal_only INTEGER NOT NULL,
                created_at_ms INTEGER NOT NULL
            );
            CREATE INDEX comments_ticket ON comments (ticket_id, created_at_ms, id);
            CREATE TABLE status_history (
                seq INTEGER PRIMARY KEY AUTOINCREMENT,
                ticket_id TEXT NOT NULL REFERENCES tickets (id),
                from_status INTEGER NOT NULL,
                to_status INTEGER NOT NULL,
                actor_id TEXT NOT NULL,
                at_ms INTEGER NOT NULL,
                reason TEXT NOT NULL DEFAULT ''
            );
            CREATE INDEX status_history_ticket ON status_history (ticket_id, seq);
            -- Who owned a ticket when, and why it moved (company asset: nothing is lost on reassignment).
            CREATE TABLE owner_changes (
                seq INTEGER PRIMARY KEY AUTOINCREMENT,
                ticket_id TEXT NOT NULL REFERENCES tickets (id),
                from_owner_id TEXT NOT NULL,
                to_owner_id TEXT NOT NULL,
                actor_id TEXT NOT NULL,
                at_ms INTEGER NOT NULL,
                reason TEXT NOT NULL DEFAULT ''
            );
            """)
    }

    /// Facts owned by other services that crm-tickets keeps a copy of: who owns a customer (a rep sees
    /// the tickets of customers they own) and which won deals already opened their onboarding line.
    static func createProjections(_ db: Database) throws {
        try db.execute(sql: """
            CREATE TABLE customers (
                customer_id TEXT PRIMARY KEY,
                name TEXT NOT NULL DEFAULT '',
                owner_id TEXT NOT NULL DEFAULT '',
                team_id TEXT NOT NULL DEFAULT '',
                updated_at_ms INTEGER NOT NULL
            ) WITHOUT ROWID;
            CREATE INDEX customers_owner ON customers (owner_id);
            CREATE TABLE onboarding_lines (
                opportunity_id TEXT PRIMARY KEY,
                customer_id TEXT NOT NULL,
                cause_event_id TEXT NOT NULL,
                ticket_count INTEGER NOT NULL,
                opened_at_ms INTEGER NOT NULL
            ) WITHOUT ROWID;
            CREATE TABLE event_sequence (
                id INTEGER PRIMARY KEY CHECK (id = 1),
                value INTEGER NOT NULL
            );
            INSERT INTO event_sequence (id, value) VALUES (1, 0);
            """)
    }

    static func createSettings(_ db: Database) throws {
        try db.execute(sql: """
            CREATE TABLE settings (
                id INTEGER PRIMARY KEY CHECK (id = 1),
                body BLOB NOT NULL
            );
            """)
        try SettingsStore.save(db, DefaultSettings.settings)
    }
}
