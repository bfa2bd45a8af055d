import CRMProto
import GRDB

/// Reads of the history tables within a time window (funnel, KPIs, the R12 review).
struct StageMove: Sendable {
    var opportunityID: String
    var atMs: Int64
    var from: Stage
    var to: Stage
    var backwards: Bool
    var timeInFromMs: Int64

    /// Created in a stage (no from-stage): an entry, not a move.
    var isCreation: Bool { from == .unspecified }

    /// Forward along the funnel, including into WON; never a creation, a backward move or a loss.
    var isAdvance: Bool {
        guard let fromIndex = from.openIndex, !backwards else { return false }
        if to == .won { return true }
        guard let toIndex = to.openIndex else { return false }
        return toIndex > fromIndex
    }
}

struct FollowUpRecord: Sendable {
    var opportunityID: String
    var ownerID: String
    var teamID: String
    var type: Crm_Opportunities_V1_ActivityType
    var occurredMs: Int64
}

enum History {
    static func stageMoves(_ db: Database, fromMs: Int64, toMs: Int64) throws -> [StageMove] {
        try Row.fetchAll(db, sql: """
            SELECT opportunity_id, at_ms, from_stage, to_stage, backwards, time_in_from_ms
            FROM stage_change WHERE at_ms >= ? AND at_ms < ? ORDER BY at_ms, opportunity_id
            """, arguments: [fromMs, toMs]).map { row in
            StageMove(opportunityID: row[0], atMs: row[1], from: Stage(rawValue: row[2]), to: Stage(rawValue: row[3]),
                      backwards: row[4], timeInFromMs: row[5])
        }
    }

    static func followUps(_ db: Database, fromMs: Int64, toMs: Int64) throws -> [FollowUpRecord] {
        try Row.fetchAll(db, sql: """
            SELECT opportunity_id, owner_id, team_id, type, occurred_ms FROM follow_up
            WHERE occurred_ms >= ? AND occurred_ms < ?
            """, arguments: [fromMs, toMs]).map { row in
            FollowUpRecord(opportunityID: row[0], ownerID: row[1], teamID: row[2],
                           type: Crm_Opportunities_V1_ActivityType(rawValue: row[3]), occurredMs: row[4])
        }
    }
}

/// The median of a list of durations (0 for none).
func median(_ values: [Int64]) -> Int64 {
    guard !values.isEmpty else { return 0 }
    let sorted = values.sorted()
    let mid = sorted.count / 2
    return sorted.count % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
}

func ratio(_ part: Int64, _ whole: Int64) -> Double { whole > 0 ? Double(part) / Double(whole) : 0 }
