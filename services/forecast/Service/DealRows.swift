import CRMProto
import Foundation
import GRDB

/// Deal <-> `deal` table row. The only place that knows the column list.
enum DealRows {
    static let columns = [
        "id", "agg_version", "title", "customer_id", "customer_name", "owner_id", "team_id", "lead_id", "source",
        "currency", "amount_cents", "stage", "status", "stage_entered_ms", "expected_close_date", "created_ms",
        "closed_ms", "signed_amount_cents", "signed_date", "key_person_present", "key_person_confirmed",
        "key_person_met", "face_to_face_held", "quoted", "follow_up_count", "first_follow_up_ms", "last_follow_up_ms",
        "last_action_ms", "synced_fu30", "synced_at_ms", "risk_level", "risk_yellow", "risk_red", "next_step_due_ms",
        "open_task_count", "overdue_task_count", "oldest_overdue_due_ms", "closed_from_stage", "loss_review",
        "cf_stage", "cf_key_person", "cf_quote", "cf_face_to_face", "cf_days_to_close", "cf_follow_ups", "cf_yellow",
        "cf_red", "updated_ms",
    ]

    static let upsertSQL = "INSERT OR REPLACE INTO deal (\(columns.joined(separator: ", "))) VALUES (\(columns.map { _ in "?" }.joined(separator: ", ")))"

    static func save(_ db: Database, _ deal: Deal) throws {
        let c = deal.closing
        try FastStatement(db, sql: upsertSQL).execute { b in
            b.text(deal.id); b.int(deal.aggregateVersion); b.text(deal.title); b.text(deal.customerID)
            b.text(deal.customerName); b.text(deal.ownerID); b.text(deal.teamID); b.text(deal.leadID); b.int(deal.source)
            b.text(deal.currency); b.int(deal.amountCents); b.int(deal.stage.rawValue); b.int(deal.status.rawValue)
            b.int(deal.stageEnteredMs); b.text(deal.expectedCloseDate); b.int(deal.createdMs)
            b.int(deal.closedMs); b.int(deal.signedAmountCents); b.text(deal.signedDate); b.bool(deal.keyPersonPresent)
            b.bool(deal.keyPersonConfirmed); b.bool(deal.keyPersonMet); b.bool(deal.faceToFaceHeld)
            b.bool(deal.quoted); b.int(deal.followUpCount); b.int(deal.firstFollowUpMs); b.int(deal.lastFollowUpMs)
            b.int(deal.lastActionMs); b.int(deal.syncedFollowUps30); b.int(deal.syncedAtMs); b.int(deal.riskLevel.rawValue)
            b.int(deal.riskYellow); b.int(deal.riskRed); b.int(deal.nextStepDueMs); b.int(deal.openTaskCount)
            b.int(deal.overdueTaskCount); b.int(deal.oldestOverdueDueMs); b.int(deal.closedFromStage.rawValue)
            b.blob(deal.lossReview?.serializedBytes())
            if let c {
                b.int(c.stage.rawValue); b.bool(c.keyPersonConfirmed); b.bool(c.quoteGiven); b.bool(c.faceToFaceHeld)
                b.int(c.daysToExpectedClose.map(Int64.init)); b.int(c.followUps30); b.int(c.yellowFlags); b.int(c.redFlags)
            } else {
                for _ in 0..<8 { b.null() }
            }
            b.int(deal.updatedMs)
        }
    }

    static func decode(_ row: Row) throws -> Deal {
        var deal = Deal(id: row["id"])
        deal.aggregateVersion = row["agg_version"]
        deal.title = row["title"]
        deal.customerID = row["customer_id"]
        deal.customerName = row["customer_name"]
        deal.ownerID = row["owner_id"]
        deal.teamID = row["team_id"]
        deal.leadID = row["lead_id"]
        deal.source = row["source"]
        deal.currency = row["currency"]
        deal.amountCents = row["amount_cents"]
        deal.stage = Stage(rawValue: row["stage"])
        deal.status = OpportunityStatus(rawValue: row["status"])
        deal.stageEnteredMs = row["stage_entered_ms"]
        deal.expectedCloseDate = row["expected_close_date"]
        deal.createdMs = row["created_ms"]
        deal.closedMs = row["closed_ms"]
        deal.signedAmountCents = row["signed_amount_cents"]
        deal.signedDate = row["signed_date"]
        deal.keyPersonPresent = row["key_person_present"]
        deal.keyPersonConfirmed = row["key_person_confirmed"]
        deal.keyPersonMet = row["key_person_met"]
        deal.faceToFaceHeld = row["face_to_face_held"]
        deal.quoted = row["quoted"]
        deal.followUpCount = row["follow_up_count"]
        deal.firstFollowUpMs = row["first_follow_up_ms"]
        deal.lastFollowUpMs = row["last_follow_up_ms"]
        deal.lastActionMs = row["last_action_ms"]
        deal.syncedFollowUps30 = row["synced_fu30"]
        deal.syncedAtMs = row["synced_at_ms"]
        deal.riskLevel = RiskLevel(rawValue: row["risk_level"])
        deal.riskYellow = row["risk_yellow"]
        deal.riskRed = row["risk_red"]
        deal.nextStepDueMs = row["next_step_due_ms"]
        deal.openTaskCount = row["open_task_count"]
        deal.overdueTaskCount = row["overdue_task_count"]
        deal.oldestOverdueDueMs = row["oldest_overdue_due_ms"]
        deal.closedFromStage = Stage(rawValue: row["closed_from_stage"])
        if let bytes = row["loss_review"] as Data? {
            deal.lossReview = try? Crm_Opportunities_V1_LossReview(serializedBytes: Array(bytes))
        }
        if let stage = row["cf_stage"] as Int32? {
            deal.closing = ClosingFacts(
                stage: Stage(rawValue: stage), keyPersonConfirmed: row["cf_key_person"] ?? false,
                quoteGiven: row["cf_quote"] ?? false, faceToFaceHeld: row["cf_face_to_face"] ?? false,
                daysToExpectedClose: row["cf_days_to_close"], followUps30: row["cf_follow_ups"] ?? 0,
                yellowFlags: row["cf_yellow"] ?? 0, redFlags: row["cf_red"] ?? 0)
        }
        deal.updatedMs = row["updated_ms"]
        return deal
    }

    /// Every deal, with the follow-up times seen as events (startup load of the book).
    static func loadAll(_ db: Database) throws -> [String: Deal] {
        var deals: [String: Deal] = [:]
        let cursor = try Row.fetchCursor(db, sql: "SELECT * FROM deal")
        while let row = try cursor.next() {
            let deal = try decode(row)
            deals[deal.id] = deal
        }
        let times = try Row.fetchCursor(db, sql: """
            SELECT opportunity_id, occurred_ms FROM follow_up WHERE opportunity_id <> '' ORDER BY occurred_ms
            """)
        while let row = try times.next() {
            let id: String = row[0]
            deals[id]?.followUpTimes.append(row[1])
        }
        return deals
    }
}
