import CRMProto
import GRDB
import ServiceRuntime

/// The churn sweep: EXISTING customers with no activity and no open ticket for `churn_risk_after_days`
/// are flagged churn-risk; flags whose reason no longer holds are cleared. Runs periodically in the
/// background and on demand (RunSweep), always against the injected clock.
enum ChurnSweep {
    struct Result: Sendable {
        var flagged: [String] = []
        var cleared: [String] = []
    }

    /// One sweep in the caller's transaction; `dryRun` computes without writing.
    static func run(_ db: Database, nowMs: Int64, dryRun: Bool) throws -> Result {
        let settings = try SettingsStore.load(db)
        let threshold = nowMs - Int64(settings.churnRiskAfterDays) * Millis.day
        var result = Result()
        result.flagged = try String.fetchAll(db, sql: """
            SELECT id FROM customers
            WHERE lifecycle_status = ? AND last_activity_at_ms <= ? AND churn_risk = 0 AND archived = 0
              AND open_ticket_count = 0
            ORDER BY id
            """, arguments: [LifecycleStatus.existing.rawValue, threshold])
        result.cleared = try String.fetchAll(db, sql: """
            SELECT id FROM customers
            WHERE churn_risk = 1
              AND (lifecycle_status != ? OR last_activity_at_ms > ? OR archived = 1 OR open_ticket_count > 0)
            ORDER BY id
            """, arguments: [LifecycleStatus.existing.rawValue, threshold])
        guard !dryRun else { return result }
        let days = settings.churnRiskAfterDays
        for id in result.flagged {
            guard var stored = try StoredCustomer.load(db, id: id) else { continue }
            stored.customer.churnRisk = true
            stored.customer.churnRiskSinceMs = nowMs
            stored.customer.version += 1
            stored.customer.updatedAtMs = nowMs
            try Audit.record(db, Audit.entry(.churnRiskFlagged, customerID: id, actor: Access.systemUser, atMs: nowMs,
                                             summary: "No activity and no open ticket for \(days) days", trigger: .sweep))
            try stored.save(db)
        }
        for id in result.cleared {
            guard var stored = try StoredCustomer.load(db, id: id) else { continue }
            try clear(db, &stored, actor: Access.systemUser, atMs: nowMs, trigger: .sweep, why: "no longer at risk")
            stored.customer.version += 1
            stored.customer.updatedAtMs = nowMs
            try stored.save(db)
        }
        return result
    }

    /// Clears the churn-risk flag with a timeline entry; the caller bumps the version and saves.
    static func clear(_ db: Database, _ stored: inout StoredCustomer, actor: String, atMs: Int64,
                      trigger: Crm_Customers_V1_ChangeTrigger, why: String) throws {
        stored.customer.churnRisk = false
        stored.customer.churnRiskSinceMs = 0
        try Audit.record(db, Audit.entry(.churnRiskCleared, customerID: stored.customer.id, actor: actor, atMs: atMs,
                                         summary: "Churn risk cleared: \(why)", trigger: trigger))
    }
}
