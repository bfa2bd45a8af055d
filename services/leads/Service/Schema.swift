import CRMStore
import GRDB
import ServiceRuntime

/// The crm-leads store: leads with their assignment log and contact log (line 1 traceability),
/// configuration (R2 thresholds, assignment rules), the conversion saga's progress, source analytics
/// inputs (wins from events, marketing spend), plus the shared outbox/inbox and idempotency tables.
public enum LeadsSchema {
    public static let migrations: [Migration] = [
        Migration(1, "leads") { db in
            // One row per lead. Empty strings / zeros mean "not set" so rows map 1:1 onto the proto.
            // first_* columns keep the first assignment/activation for source analytics even after
            // reassignments reset the current R2 clock.
            try db.execute(sql: """
                CREATE TABLE leads (
                    id TEXT PRIMARY KEY,
                    version INTEGER NOT NULL,
                    source INTEGER NOT NULL,
                    source_detail TEXT NOT NULL,
                    scenario TEXT NOT NULL,
                    contact_name TEXT NOT NULL,
                    phone TEXT NOT NULL,
                    email TEXT NOT NULL,
                    job_title TEXT NOT NULL,
                    company TEXT NOT NULL,
                    region TEXT NOT NULL,
                    industry TEXT NOT NULL,
                    background TEXT NOT NULL,
                    initial_need TEXT NOT NULL,
                    attributes TEXT NOT NULL,
                    force_reason TEXT NOT NULL,
                    forced_duplicate_of TEXT NOT NULL,
                    status INTEGER NOT NULL,
                    owner_id TEXT NOT NULL,
                    team_id TEXT NOT NULL,
                    assigned_at_ms INTEGER NOT NULL,
                    activation_deadline_ms INTEGER NOT NULL,
                    warned_at_ms INTEGER NOT NULL,
                    activated_at_ms INTEGER NOT NULL,
                    last_contact_at_ms INTEGER NOT NULL,
                    contact_attempts INTEGER NOT NULL,
                    reclaim_count INTEGER NOT NULL,
                    ever_in_pool INTEGER NOT NULL,
                    first_assigned_at_ms INTEGER NOT NULL,
                    first_activated_at_ms INTEGER NOT NULL,
                    first_activation_delay_ms INTEGER NOT NULL,
                    first_activated_within_deadline INTEGER NOT NULL,
                    disqualify_reason INTEGER NOT NULL,
                    disqualify_note TEXT NOT NULL,
                    customer_id TEXT NOT NULL,
                    opportunity_id TEXT NOT NULL,
                    converted_at_ms INTEGER NOT NULL,
                    created_by TEXT NOT NULL,
                    created_at_ms INTEGER NOT NULL,
                    updated_at_ms INTEGER NOT NULL,
                    closed_at_ms INTEGER NOT NULL
                );
                CREATE INDEX leads_by_created ON leads (created_at_ms);
                CREATE INDEX leads_by_owner_status ON leads (owner_id, status);
                CREATE INDEX leads_by_team_status ON leads (team_id, status);
                CREATE INDEX leads_by_deadline ON leads (status, activation_deadline_ms);
                CREATE INDEX leads_open_by_phone ON leads (phone) WHERE phone <> '' AND status IN (1, 2, 3, 4);
                CREATE INDEX leads_open_by_email ON leads (email) WHERE email <> '' AND status IN (1, 2, 3, 4);
                CREATE INDEX leads_by_opportunity ON leads (opportunity_id) WHERE opportunity_id <> '';

                CREATE TABLE assignments (
                    id TEXT PRIMARY KEY,
                    lead_id TEXT NOT NULL REFERENCES leads (id),
                    kind INTEGER NOT NULL,
                    from_owner_id TEXT NOT NULL,
                    to_owner_id TEXT NOT NULL,
                    actor_id TEXT NOT NULL,
                    reason TEXT NOT NULL,
                    rule_id TEXT NOT NULL,
                    at_ms INTEGER NOT NULL,
                    activation_deadline_ms INTEGER NOT NULL
                );
                CREATE INDEX assignments_by_lead ON assignments (lead_id, at_ms);

                CREATE TABLE contact_attempts (
                    id TEXT PRIMARY KEY,
                    lead_id TEXT NOT NULL REFERENCES leads (id),
                    channel INTEGER NOT NULL,
                    outcome INTEGER NOT NULL,
                    note TEXT NOT NULL,
                    actor_id TEXT NOT NULL,
                    contacted_at_ms INTEGER NOT NULL,
                    recorded_at_ms INTEGER NOT NULL,
                    activated_lead INTEGER NOT NULL,
                    within_deadline INTEGER NOT NULL
                );
                CREATE INDEX contact_attempts_by_lead ON contact_attempts (lead_id, recorded_at_ms);
                """)
        },
        Migration(2, "configuration") { db in
            // Single-row settings (R2 thresholds are configuration) and the ordered rule list.
            try db.execute(sql: """
                CREATE TABLE settings (
                    id INTEGER PRIMARY KEY CHECK (id = 1),
                    version INTEGER NOT NULL,
                    activation_window_ms INTEGER NOT NULL,
                    warning_before_ms INTEGER NOT NULL,
                    claim_cap INTEGER NOT NULL,
                    default_phone_region TEXT NOT NULL,
                    sweep_interval_ms INTEGER NOT NULL
                );
                CREATE TABLE assignment_rules (
                    position INTEGER PRIMARY KEY,
                    id TEXT NOT NULL UNIQUE,
                    rule BLOB NOT NULL
                );
                CREATE TABLE rule_set (
                    id INTEGER PRIMARY KEY CHECK (id = 1),
                    version INTEGER NOT NULL
                );
                CREATE TABLE rule_cursors (
                    rule_id TEXT PRIMARY KEY,
                    last_user_id TEXT NOT NULL
                ) WITHOUT ROWID;
                CREATE TABLE counters (
                    name TEXT PRIMARY KEY,
                    value INTEGER NOT NULL
                ) WITHOUT ROWID;
                """)
            let defaults = LeadSettingsValues.defaults
            try db.execute(sql: """
                INSERT INTO settings (id, version, activation_window_ms, warning_before_ms, claim_cap,
                                      default_phone_region, sweep_interval_ms)
                VALUES (1, 1, ?, ?, ?, ?, ?)
                """, arguments: [defaults.activationWindowMs, defaults.warningBeforeMs, defaults.claimCap,
                                 defaults.defaultPhoneRegion, defaults.sweepIntervalMs])
            try db.execute(sql: "INSERT INTO rule_set (id, version) VALUES (1, 1)")
            try db.execute(sql: "INSERT INTO counters (name, value) VALUES ('event_sequence', 0)")
        },
        Migration(3, "conversion") { db in
            // Progress of the ConvertLead saga per lead: each peer step's record id as soon as it is
            // known, so a retry finishes the remaining steps without creating anything twice.
            try db.execute(sql: """
                CREATE TABLE conversions (
                    lead_id TEXT PRIMARY KEY REFERENCES leads (id),
                    customer_id TEXT NOT NULL,
                    customer_state INTEGER NOT NULL,
                    key_contact_id TEXT NOT NULL,
                    key_contact_state INTEGER NOT NULL,
                    opportunity_id TEXT NOT NULL,
                    opportunity_state INTEGER NOT NULL,
                    started_by TEXT NOT NULL,
                    started_at_ms INTEGER NOT NULL,
                    completed_at_ms INTEGER NOT NULL,
                    response BLOB
                ) WITHOUT ROWID;
                """)
        },
        Migration(4, "analytics") { db in
            // Won deals of converted leads (from DEAL_WON events, one row per opportunity) and the
            // marketing spend per source/campaign/month: the two sides of source ROI (line 1).
            try db.execute(sql: """
                CREATE TABLE lead_wins (
                    opportunity_id TEXT PRIMARY KEY,
                    lead_id TEXT NOT NULL,
                    amount_cents INTEGER NOT NULL,
                    currency TEXT NOT NULL,
                    won_at_ms INTEGER NOT NULL,
                    event_id TEXT NOT NULL
                ) WITHOUT ROWID;
                CREATE INDEX lead_wins_by_lead ON lead_wins (lead_id);
                CREATE TABLE source_spend (
                    source INTEGER NOT NULL,
                    source_detail TEXT NOT NULL,
                    month TEXT NOT NULL,
                    amount_cents INTEGER NOT NULL,
                    currency TEXT NOT NULL,
                    note TEXT NOT NULL,
                    recorded_by TEXT NOT NULL,
                    recorded_at_ms INTEGER NOT NULL,
                    PRIMARY KEY (source, source_detail, month)
                ) WITHOUT ROWID;
                """)
        },
        Migration(5, "repurchase") { db in
            // TICKET_CLOSED events with a repurchase need, waiting to become leads (R9 -> line 1).
            // Turning one into a lead needs the customer's contact from crm-customers, which cannot be
            // called inside the event transaction, so a background job finishes the work.
            try db.execute(sql: """
                CREATE TABLE repurchase_intake (
                    event_id TEXT PRIMARY KEY,
                    ticket_id TEXT NOT NULL,
                    customer_id TEXT NOT NULL,
                    contact_id TEXT NOT NULL,
                    owner_id TEXT NOT NULL,
                    team_id TEXT NOT NULL,
                    title TEXT NOT NULL,
                    note TEXT NOT NULL,
                    estimate_cents INTEGER NOT NULL,
                    currency TEXT NOT NULL,
                    received_at_ms INTEGER NOT NULL,
                    lead_id TEXT NOT NULL,
                    attempts INTEGER NOT NULL,
                    next_attempt_ms INTEGER NOT NULL,
                    last_error TEXT NOT NULL,
                    done INTEGER NOT NULL
                ) WITHOUT ROWID;
                """)
        },
        Migration(6, "runtime") { db in
            try EventTables.create(db)
            try Idempotency.createTable(db)
        },
    ]
}
