import CRMProto
import Foundation
import GRDB

/// R12 "Reviews go back to actions": for a team (or one rep) and period — which opportunities
/// advanced, which risks were identified and whether they were cleared, which actions are stuck,
/// which leads were never followed. Every item carries the id of its record.
struct ReviewReport {
    let period: Period
    let scope: FigureScope
    let nowMs: Int64
    let stuckAfterDays: Int

    func compute(_ db: Database, deals: [String: Deal]) throws -> Crm_Forecast_V1_Review {
        var review = Crm_Forecast_V1_Review(
            teamId: scope.teamID ?? "", userId: scope.userID ?? "", period: period.text,
            fromMs: period.startMs, toMs: period.endMs, generatedAtMs: nowMs)
        func visible(_ id: String) -> Deal? {
            guard let deal = deals[id], scope.includes(deal) else { return nil }
            return deal
        }

        // Advanced: forward stage moves in the period (won included).
        for move in try History.stageMoves(db, fromMs: period.startMs, toMs: period.endMs) where move.isAdvance {
            guard let deal = visible(move.opportunityID) else { continue }
            review.advanced.append(Crm_Forecast_V1_AdvancedItem(
                opportunityId: deal.id, title: deal.title, ownerId: deal.ownerID, fromStage: move.from, toStage: move.to,
                atMs: move.atMs, amountCents: deal.isWon ? deal.wonAmountCents : deal.amountCents))
        }

        // Risks: R8 flags raised in the period, and whether they were cleared since.
        for row in try Row.fetchAll(db, sql: """
            SELECT opportunity_id, kind, level, raised_ms, cleared_ms FROM risk_flag
            WHERE raised_ms >= ? AND raised_ms < ? ORDER BY raised_ms, opportunity_id
            """, arguments: [period.startMs, period.endMs]) {
            guard let deal = visible(row["opportunity_id"]) else { continue }
            let cleared: Int64 = row["cleared_ms"]
            review.risks.append(Crm_Forecast_V1_RiskItem(
                opportunityId: deal.id, title: deal.title, ownerId: deal.ownerID,
                kind: Crm_Opportunities_V1_RiskKind(rawValue: row["kind"]), level: RiskLevel(rawValue: row["level"]),
                raisedAtMs: row["raised_ms"], cleared: cleared > 0, clearedAtMs: cleared))
        }

        review.stuck = stuck(deals)
        review.unfollowedLeads = try unfollowedLeads(db)
        if try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM lead") == 0 {
            review.warnings.append("crm-leads: no lead events received yet; leads never followed cannot be listed")
        }
        review.summary = Crm_Forecast_V1_ReviewSummary(
            advancedCount: Int64(review.advanced.count), risksIdentified: Int64(review.risks.count),
            risksCleared: Int64(review.risks.filter(\.cleared).count), stuckCount: Int64(review.stuck.count),
            unfollowedLeadCount: Int64(review.unfollowedLeads.count))
        return review
    }

    /// Actions stuck now: overdue next steps, and open deals with no stage move in `stuckAfterDays`.
    private func stuck(_ deals: [String: Deal]) -> [Crm_Forecast_V1_StuckItem] {
        var items: [Crm_Forecast_V1_StuckItem] = []
        let day = Int64(86_400_000)
        for deal in deals.values where deal.isOpen && scope.includes(deal) {
            // The export feed's task counts are exact; a follow-up's next step is the fallback.
            let overdueSince: Int64? = deal.overdueTaskCount > 0 && deal.oldestOverdueDueMs > 0 ? deal.oldestOverdueDueMs
                : (deal.nextStepDueMs > 0 && deal.nextStepDueMs < nowMs && deal.lastFollowUpMs < deal.nextStepDueMs
                    ? deal.nextStepDueMs : nil)
            if let since = overdueSince, since < nowMs {
                items.append(Crm_Forecast_V1_StuckItem(
                    kind: .overdueNextStep, opportunityId: deal.id, title: deal.title, ownerId: deal.ownerID,
                    sinceMs: since, days: Int32((nowMs - since) / day)))
            }
            if deal.stageEnteredMs > 0, nowMs - deal.stageEnteredMs >= Int64(stuckAfterDays) * day {
                items.append(Crm_Forecast_V1_StuckItem(
                    kind: .noStageMove, opportunityId: deal.id, title: deal.title, ownerId: deal.ownerID,
                    sinceMs: deal.stageEnteredMs, days: Int32((nowMs - deal.stageEnteredMs) / day)))
            }
        }
        return items.sorted { ($0.days, $1.opportunityId) > ($1.days, $0.opportunityId) }
    }

    /// Leads assigned in the period (to the scope) whose assignment ended or ran past its R2
    /// deadline without a recorded contact.
    private func unfollowedLeads(_ db: Database) throws -> [Crm_Forecast_V1_UnfollowedLead] {
        let rows = try Row.fetchAll(db, sql: """
            SELECT a.lead_id, a.owner_id, a.team_id, a.assigned_ms, a.deadline_ms, l.company, l.source, l.reclaim_count
            FROM lead_assignment a JOIN lead l ON l.id = a.lead_id
            WHERE a.assigned_ms >= ? AND a.assigned_ms < ? AND a.activated_ms = 0
              AND (a.reclaimed_ms > 0 OR (a.deadline_ms > 0 AND a.deadline_ms <= ?))
            ORDER BY a.assigned_ms DESC
            """, arguments: [period.startMs, period.endMs, nowMs])
        var seen = Set<String>()
        var leads: [Crm_Forecast_V1_UnfollowedLead] = []
        for row in rows {
            let leadID: String = row["lead_id"]
            guard scope.includes(ownerID: row["owner_id"], teamID: row["team_id"]), seen.insert(leadID).inserted else { continue }
            leads.append(Crm_Forecast_V1_UnfollowedLead(
                leadId: leadID, company: row["company"], source: Crm_Leads_V1_LeadSource(rawValue: row["source"]),
                ownerId: row["owner_id"], assignedAtMs: row["assigned_ms"], deadlineMs: row["deadline_ms"],
                reclaimCount: row["reclaim_count"]))
        }
        return leads
    }
}
