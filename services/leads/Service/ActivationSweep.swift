import Foundation
import CRMProto
import GRDB
import ServiceRuntime

/// R2 in the background: an assigned lead not contacted when `warning_before_ms` remain is flagged
/// (a reminder for its owner, shown by ListDue / ListLeads at_risk_only), and reclaimed to the pool
/// when its deadline passes. Every reclaim is recorded and announced (LEAD_RECLAIMED).
enum ActivationSweep {
    struct Outcome: Sendable {
        var warned: [String] = []
        var reclaimed: [String] = []
    }

    static func run(_ db: Database, now: Int64, settings: LeadSettingsValues, dryRun: Bool) throws -> Outcome {
        var outcome = Outcome()
        let overdue = try LeadRow.fetchAll(db, sql: """
            SELECT * FROM leads WHERE status = 2 AND activation_deadline_ms <= ? ORDER BY activation_deadline_ms, id
            """, arguments: [now])
        for var lead in overdue {
            outcome.reclaimed.append(lead.id)
            if dryRun { continue }
            let previousOwner = lead.ownerId
            let deadline = lead.activationDeadlineMs
            let windowHours = Double(deadline.subtractingClamped(lead.assignedAtMs)) / Double(Millis.hour)
            lead.returnToPool()
            lead.reclaimCount = lead.reclaimCount.addingSaturated(1)
            try lead.saveChange(db, now: now)
            _ = try LeadHandler.recordAssignment(
                db, lead, kind: .reclaimed, from: previousOwner, actor: .system,
                reason: "R2: not contacted within \(formatHours(windowHours)) of assignment (deadline \(deadline)); reclaimed to the pool",
                now: now)
        }
        let warnFrom = now.addingClamped(settings.warningBeforeMs)
        let warn = try String.fetchAll(db, sql: """
            SELECT id FROM leads
            WHERE status = 2 AND warned_at_ms = 0 AND activation_deadline_ms > ? AND activation_deadline_ms <= ?
            ORDER BY activation_deadline_ms, id
            """, arguments: [now, warnFrom])
        for id in warn {
            outcome.warned.append(id)
            if dryRun { continue }
            // Bookkeeping only (the warning is raised once); the lead's version does not change.
            try db.execute(sql: "UPDATE leads SET warned_at_ms = ? WHERE id = ?", arguments: [now, id])
        }
        return outcome
    }

    private static func formatHours(_ hours: Double) -> String {
        hours == hours.rounded() ? "\(Int(hours)) h" : String(format: "%.1f h", hours)
    }
}
