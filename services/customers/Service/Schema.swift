import CRMStore
import GRDB
import ServiceRuntime

/// The crm-customers store. Versioned migrations only ever append: a released store is migrated
/// forward, never rewritten.
public enum CustomersSchema {
    public static let migrations: [Migration] = [
        Migration(1, "customers") { db in
            try createCustomers(db)
            try createChildren(db)
            try createSettings(db)
            try Idempotency.createTable(db)
            try EventTables.create(db)
        },
        Migration(2, "churn sweep candidates, name index only on renames") { db in
            // ChurnSweep.candidates (7 = EXISTING), which the sweep walks in id order: a batch is an index
            // range, not a scan of every EXISTING customer (that made the first sweep of a large book quadratic).
            try db.execute(sql: """
                CREATE INDEX customers_churn_candidates ON customers (id, last_activity_at_ms)
                WHERE lifecycle_status = 7 AND churn_risk = 0 AND archived = 0 AND open_ticket_count = 0
                """)
            // Saving a customer writes every column, so the trigram index was rewritten on every edit
            // (about a third of a save's cost); only a changed name needs it.
            try db.execute(sql: """
                DROP TRIGGER customers_fts_update;
                CREATE TRIGGER customers_fts_update AFTER UPDATE OF name_search ON customers
                WHEN old.name_search IS NOT new.name_search BEGIN
                    INSERT INTO customer_name_fts (customer_name_fts, rowid, name_search) VALUES ('delete', old.seq, old.name_search);
                    INSERT INTO customer_name_fts (rowid, name_search) VALUES (new.seq, new.name_search);
                END;
                """)
        },
    ]

    /// Customers, with one index per list filter (each ending in the default order `created_at_ms, id`,
    /// so a filtered page of 50 is an index range scan even with a million rows) and a trigram index
    /// on the normalised name for substring search.
    private static func createCustomers(_ db: Database) throws {
        try db.execute(sql: """
            CREATE TABLE customers (
                seq INTEGER PRIMARY KEY,              -- stable rowid (the FTS index refers to it)
                id TEXT NOT NULL UNIQUE,
                version INTEGER NOT NULL,
                name TEXT NOT NULL,
                name_key TEXT NOT NULL,               -- duplicate-guard key (see NameKey)
                name_search TEXT NOT NULL,            -- lower-cased, folded: search and name order
                industry TEXT NOT NULL,
                region TEXT NOT NULL,
                size INTEGER NOT NULL,
                tags TEXT NOT NULL,                   -- read copy of customer_tags (unit-separator joined)
                website TEXT NOT NULL,
                address TEXT NOT NULL,
                notes TEXT NOT NULL,
                phone TEXT NOT NULL,
                email TEXT NOT NULL,
                grade INTEGER NOT NULL,
                grade_before_key INTEGER NOT NULL,    -- restored when a key mark is removed (R7)
                key_reason TEXT NOT NULL,
                key_marked_at_ms INTEGER NOT NULL,
                key_marked_by TEXT NOT NULL,
                source INTEGER NOT NULL,
                source_detail TEXT NOT NULL,
                lead_id TEXT NOT NULL,
                lifecycle_status INTEGER NOT NULL,
                lifecycle_changed_at_ms INTEGER NOT NULL,
                owner_id TEXT NOT NULL,
                team_id TEXT NOT NULL,
                collaborators TEXT NOT NULL,          -- read copy of customer_collaborators
                last_activity_at_ms INTEGER NOT NULL,
                open_opportunity_count INTEGER NOT NULL,
                open_ticket_count INTEGER NOT NULL,
                churn_risk INTEGER NOT NULL,
                churn_risk_since_ms INTEGER NOT NULL,
                churn_reason TEXT NOT NULL,
                archived INTEGER NOT NULL,
                archived_at_ms INTEGER NOT NULL,
                archive_reason TEXT NOT NULL,
                created_by TEXT NOT NULL,
                created_at_ms INTEGER NOT NULL,
                updated_at_ms INTEGER NOT NULL
            );
            CREATE UNIQUE INDEX customers_lead ON customers (lead_id) WHERE lead_id != '';
            CREATE INDEX customers_name_key ON customers (name_key);
            CREATE INDEX customers_phone ON customers (phone) WHERE phone != '';
            CREATE INDEX customers_email ON customers (email) WHERE email != '';
            CREATE INDEX customers_created ON customers (created_at_ms, id);
            CREATE INDEX customers_owner ON customers (owner_id, created_at_ms, id);
            CREATE INDEX customers_team ON customers (team_id, created_at_ms, id);
            CREATE INDEX customers_status ON customers (lifecycle_status, created_at_ms, id);
            CREATE INDEX customers_grade ON customers (grade, created_at_ms, id);
            CREATE INDEX customers_region ON customers (region, created_at_ms, id);
            CREATE INDEX customers_industry ON customers (industry, created_at_ms, id);
            CREATE INDEX customers_region_industry ON customers (region, industry, created_at_ms, id);
            CREATE INDEX customers_name_order ON customers (name_search, id);
            CREATE INDEX customers_updated ON customers (updated_at_ms, id);
            CREATE INDEX customers_activity ON customers (last_activity_at_ms, id);
            CREATE INDEX customers_owner_activity ON customers (owner_id, last_activity_at_ms, id);
            CREATE INDEX customers_status_activity ON customers (lifecycle_status, last_activity_at_ms);
            CREATE INDEX customers_churn_flagged ON customers (id) WHERE churn_risk = 1;

            CREATE VIRTUAL TABLE customer_name_fts USING fts5(
                name_search, content = 'customers', content_rowid = 'seq', tokenize = 'trigram');
            CREATE TRIGGER customers_fts_insert AFTER INSERT ON customers BEGIN
                INSERT INTO customer_name_fts (rowid, name_search) VALUES (new.seq, new.name_search);
            END;
            CREATE TRIGGER customers_fts_delete AFTER DELETE ON customers BEGIN
                INSERT INTO customer_name_fts (customer_name_fts, rowid, name_search) VALUES ('delete', old.seq, old.name_search);
            END;
            CREATE TRIGGER customers_fts_update AFTER UPDATE OF name_search ON customers BEGIN
                INSERT INTO customer_name_fts (customer_name_fts, rowid, name_search) VALUES ('delete', old.seq, old.name_search);
                INSERT INTO customer_name_fts (rowid, name_search) VALUES (new.seq, new.name_search);
            END;

            CREATE TABLE customer_tags (
                tag TEXT NOT NULL,
                customer_id TEXT NOT NULL REFERENCES customers (id),
                PRIMARY KEY (tag, customer_id)
            ) WITHOUT ROWID;
            CREATE INDEX customer_tags_customer ON customer_tags (customer_id);
            CREATE TABLE customer_collaborators (
                user_id TEXT NOT NULL,
                customer_id TEXT NOT NULL REFERENCES customers (id),
                PRIMARY KEY (user_id, customer_id)
            ) WITHOUT ROWID;
            CREATE INDEX customer_collaborators_customer ON customer_collaborators (customer_id);
            """)
    }

    /// Contacts, lifecycle history, timeline and the open work learned from events.
    private static func createChildren(_ db: Database) throws {
        try db.execute(sql: """
            CREATE TABLE contacts (
                id TEXT PRIMARY KEY,
                version INTEGER NOT NULL,
                customer_id TEXT NOT NULL REFERENCES customers (id),
                name TEXT NOT NULL,
                name_sort TEXT NOT NULL,
                job_title TEXT NOT NULL,
                role INTEGER NOT NULL,
                phone TEXT NOT NULL,
                email TEXT NOT NULL,
                key_person INTEGER NOT NULL,
                notes TEXT NOT NULL,
                archived INTEGER NOT NULL,
                created_at_ms INTEGER NOT NULL,
                updated_at_ms INTEGER NOT NULL
            );
            CREATE INDEX contacts_customer ON contacts (customer_id, key_person DESC, name_sort, id);
            CREATE INDEX contacts_phone ON contacts (phone) WHERE phone != '';
            CREATE INDEX contacts_email ON contacts (email) WHERE email != '';

            CREATE TABLE lifecycle_transitions (
                seq INTEGER PRIMARY KEY AUTOINCREMENT,
                customer_id TEXT NOT NULL REFERENCES customers (id),
                from_status INTEGER NOT NULL,
                to_status INTEGER NOT NULL,
                actor_id TEXT NOT NULL,
                at_ms INTEGER NOT NULL,
                reason TEXT NOT NULL,
                trigger_kind INTEGER NOT NULL,
                event_id TEXT NOT NULL
            );
            CREATE INDEX lifecycle_transitions_customer ON lifecycle_transitions (customer_id, seq);

            CREATE TABLE timeline (
                seq INTEGER PRIMARY KEY AUTOINCREMENT,
                id TEXT NOT NULL UNIQUE,
                customer_id TEXT NOT NULL REFERENCES customers (id),
                kind INTEGER NOT NULL,
                at_ms INTEGER NOT NULL,
                actor_id TEXT NOT NULL,
                summary TEXT NOT NULL,
                trigger_kind INTEGER NOT NULL,
                source_service TEXT NOT NULL,
                event_id TEXT NOT NULL,
                lead_id TEXT NOT NULL,
                opportunity_id TEXT NOT NULL,
                ticket_id TEXT NOT NULL,
                follow_up_id TEXT NOT NULL,
                contact_id TEXT NOT NULL,
                from_status INTEGER NOT NULL,
                to_status INTEGER NOT NULL,
                from_owner_id TEXT NOT NULL,
                to_owner_id TEXT NOT NULL
            );
            CREATE INDEX timeline_customer ON timeline (customer_id, at_ms DESC, seq DESC);

            CREATE TABLE open_opportunities (
                opportunity_id TEXT PRIMARY KEY,
                customer_id TEXT NOT NULL
            ) WITHOUT ROWID;
            CREATE INDEX open_opportunities_customer ON open_opportunities (customer_id);
            CREATE TABLE open_tickets (
                ticket_id TEXT PRIMARY KEY,
                customer_id TEXT NOT NULL,
                kind INTEGER NOT NULL
            ) WITHOUT ROWID;
            CREATE INDEX open_tickets_customer ON open_tickets (customer_id);
            """)
    }

    /// One row of configuration (thresholds are configuration, PRODUCT.md R8).
    private static func createSettings(_ db: Database) throws {
        try db.execute(sql: """
            CREATE TABLE settings (
                id INTEGER PRIMARY KEY CHECK (id = 1),
                version INTEGER NOT NULL,
                dark_after_days INTEGER NOT NULL,
                churn_risk_after_days INTEGER NOT NULL,
                sweep_interval_ms INTEGER NOT NULL,
                default_phone_region TEXT NOT NULL
            );
            """)
        try db.execute(sql: """
            INSERT INTO settings (id, version, dark_after_days, churn_risk_after_days, sweep_interval_ms, default_phone_region)
            VALUES (1, 1, ?, ?, ?, '')
            """, arguments: [SettingsDefaults.darkAfterDays, SettingsDefaults.churnRiskAfterDays, SettingsDefaults.sweepIntervalMs])
    }
}

/// Defaults of CustomerSettings (customers.proto).
enum SettingsDefaults {
    static let darkAfterDays: Int32 = 14
    static let churnRiskAfterDays: Int32 = 180
    static let sweepIntervalMs: Int64 = 3_600_000
}
