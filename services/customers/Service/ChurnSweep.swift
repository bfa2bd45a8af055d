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

    /// At most this many customers are flagged, and as many cleared, per transaction: the first
    /// sweep after importing a large book must not hold the store's write lock for seconds.
    static let batchSize = 200

    /// A whole sweep as a series of short write transactions; a dry run reads once. `write` runs
    /// one transaction.
    static func sweep(nowMs: Int64, dryRun: Bool,
                      write: (@escaping @Sendable (Database) throws -> Result) async throws -> Result) async throws -> Result {
        if dryRun { return try await write { db in try run(db, nowMs: nowMs, dryRun: true) } }
        var total = Result()
        var previous: Result?
        while true {
            let batch = try await write { db in try run(db, nowMs: nowMs, dryRun: false, limit: batchSize) }
            // A batch that changed nothing comes back the same: stop rather than spin.
            if let previous, batch.flagged == previous.flagged, batch.cleared == previous.cleared { return total }
            total.flagged += batch.flagged
            total.cleared += batch.cleared
            if batch.flagged.count < batchSize, batch.cleared.count < batchSize { return total }
            previous = batch
        }
    }

    /// One sweep (of at most `limit` flags and `limit` clears; -1 for all) in the caller's
    /// transaction; `dryRun` computes without writing.
    static func run(_ db: Database, nowMs: Int64, dryRun: Bool, limit: Int = -1) throws -> Result {
        let settings = try SettingsStore.load(db)
        let threshold = nowMs - Int64(settings.churnRiskAfterDays) * Millis.day
        var result = Result()
        result.flagged = try String.fetchAll(db, sql: """
            SELECT id FROM customers
            WHERE lifecycle_status = ? AND last_activity_at_ms <= ? AND churn_risk = 0 AND archived = 0
              AND open_ticket_count = 0
            ORDER BY id LIMIT ?
            """, arguments: [LifecycleStatus.existing.rawValue, threshold, limit])
        result.cleared = try String.fetchAll(db, sql: """
            SELECT id FROM customers
            WHERE churn_risk = 1
              AND (lifecycle_status != ? OR last_activity_at_ms > ? OR archived = 1 OR open_ticket_count > 0)
            ORDER BY id LIMIT ?
            """, arguments: [LifecycleStatus.existing.rawValue, threshold, limit])
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
