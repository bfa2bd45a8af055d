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

    /// A whole sweep as a series of short write transactions, each batch continuing after the last
    /// id of the one before (so the sweep reads each candidate once, however many batches it takes);
    /// a dry run reads once. `write` runs one transaction.
    static func sweep(nowMs: Int64, dryRun: Bool,
                      write: (@escaping @Sendable (Database) throws -> Result) async throws -> Result) async throws -> Result {
        if dryRun { return try await write { db in try run(db, nowMs: nowMs, dryRun: true) } }
        var total = Result()
        // nil once that side of the sweep has found everything.
        var flagAfter: String? = "", clearAfter: String? = ""
        while flagAfter != nil || clearAfter != nil {
            let cursor = Cursor(flagAfter: flagAfter, clearAfter: clearAfter)
            let batch = try await write { db in try run(db, nowMs: nowMs, dryRun: false, limit: batchSize, cursor: cursor) }
            total.flagged += batch.flagged
            total.cleared += batch.cleared
            flagAfter = batch.flagged.count < batchSize ? nil : batch.flagged.last
            clearAfter = batch.cleared.count < batchSize ? nil : batch.cleared.last
        }
        return total
    }

    /// Where a batch starts: after these ids; nil skips that side.
    struct Cursor: Sendable {
        var flagAfter: String? = ""
        var clearAfter: String? = ""
    }

    /// Candidates for a flag: EXISTING, not yet flagged, not archived, no open ticket. The partial index
    /// `customers_churn_candidates` holds exactly these rows, in id order with their last activity.
    static let candidates = """
        lifecycle_status = \(LifecycleStatus.existing.rawValue) AND churn_risk = 0 AND archived = 0 AND open_ticket_count = 0
        """

    /// One sweep (of at most `limit` flags and `limit` clears after `cursor`; -1 for all) in the
    /// caller's transaction; `dryRun` computes without writing.
    static func run(_ db: Database, nowMs: Int64, dryRun: Bool, limit: Int = -1, cursor: Cursor = Cursor()) throws -> Result {
        let settings = try SettingsStore.load(db)
        let threshold = nowMs - Int64(settings.churnRiskAfterDays) * Millis.day
        var result = Result()
        if let after = cursor.flagAfter {
            result.flagged = try String.fetchAll(db.cachedStatement(sql: """
                SELECT id FROM customers INDEXED BY customers_churn_candidates
                WHERE \(candidates) AND last_activity_at_ms <= ? AND id > ?
                ORDER BY id LIMIT ?
                """), arguments: [threshold, after, limit])
        }
        if let after = cursor.clearAfter {
            result.cleared = try String.fetchAll(db.cachedStatement(sql: """
                SELECT id FROM customers INDEXED BY customers_churn_flagged
                WHERE churn_risk = 1 AND id > ?
                  AND (lifecycle_status != ? OR last_activity_at_ms > ? OR archived = 1 OR open_ticket_count > 0)
                ORDER BY id LIMIT ?
                """), arguments: [after, LifecycleStatus.existing.rawValue, threshold, limit])
        }
        guard !dryRun else { return result }
        let days = settings.churnRiskAfterDays
        for id in result.flagged {
            // Only the flag's columns: a whole-row save would rewrite every index of the row.
            try db.cachedStatement(sql: """
                UPDATE customers SET churn_risk = 1, churn_risk_since_ms = ?, version = version + 1, updated_at_ms = ?
                WHERE id = ?
                """).execute(arguments: [nowMs, nowMs, id])
            try Audit.record(db, Audit.entry(.churnRiskFlagged, customerID: id, actor: Access.systemUser, atMs: nowMs,
                                             summary: "No activity and no open ticket for \(days) days", trigger: .sweep))
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
