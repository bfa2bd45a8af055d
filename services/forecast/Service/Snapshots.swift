import CRMProto
import Foundation
import GRDB
import ServiceRuntime

typealias Snapshot = Crm_Forecast_V1_Snapshot

/// Stored forecasts (line 6): the company forecast of a period frozen with every deal behind it,
/// so accuracy and calibration can be measured once the period closes.
enum SnapshotBuilder {
    /// The full company forecast of `period` in `currency`: a company row, a row per team and per
    /// person, and every deal (open ones expected in the period, won ones).
    static func build(engine: ForecastEngine, index: DealIndex, period: Period, currency: String,
                      targets: TargetSet?, trigger: Crm_Forecast_V1_SnapshotTrigger, label: String) -> Snapshot {
        let (scored, _) = engine.dealsOf(index, period: period, currency: currency, scope: .company)
        let names = index.names
        let teams = Set(scored.map(\.team)).map { names[$0] }.sorted()
        let users = Set(scored.map(\.owner)).map { names[$0] }.sorted()
        let levels = [RowKey(scope: .company, id: "")] + teams.map { RowKey(scope: .team, id: $0) }
            + users.map { RowKey(scope: .user, id: $0) }
        let rows = ForecastEngine.rows(scored, levels: levels, names: names, targets: TargetLookup(targets, currency: currency))
        let frozen = scored.map { deal in
            let slot = index.slots[deal.slot]
            return Crm_Forecast_V1_SnapshotDeal(
                opportunityId: index.ids[deal.slot], ownerId: names[deal.owner], teamId: names[deal.team], stage: deal.stage,
                amountCents: deal.amountCents, probability: deal.probability, category: deal.category,
                expectedCloseDate: slot.expectedCloseDay == DealIndex.noDay ? "" : CivilDate.format(Int(slot.expectedCloseDay)))
        }.sorted { $0.opportunityId < $1.opportunityId }
        return Snapshot(
            id: RecordID.make("snap", nowMs: engine.nowMs), period: period.text, currency: currency,
            takenAtMs: engine.nowMs, trigger: trigger, label: label, model: engine.model.info, rows: rows,
            deals: frozen, dealCount: Int64(frozen.count))
    }
}

enum SnapshotStore {
    static func save(_ db: Database, _ snapshot: Snapshot) throws {
        try db.execute(sql: """
            INSERT OR REPLACE INTO snapshot (id, period, currency, taken_ms, trigger, body) VALUES (?, ?, ?, ?, ?, ?)
            """, arguments: [snapshot.id, snapshot.period, snapshot.currency, snapshot.takenAtMs,
                             snapshot.trigger.rawValue, Data(snapshot.serializedBytes())])
    }

    static func load(_ db: Database, id: String) throws -> Snapshot? {
        try Data.fetchOne(db, sql: "SELECT body FROM snapshot WHERE id = ?", arguments: [id])
            .map { try Snapshot(serializedBytes: Array($0)) }
    }

    /// Snapshots of a period in one currency, oldest first.
    static func ofPeriod(_ db: Database, period: String, currency: String) throws -> [Snapshot] {
        try Data.fetchAll(db, sql: """
            SELECT body FROM snapshot WHERE period = ? AND currency = ? ORDER BY taken_ms, id
            """, arguments: [period, currency]).map { try Snapshot(serializedBytes: Array($0)) }
    }

    /// A page of a period's snapshots, newest first, after the (taken_ms, id) cursor.
    static func page(_ db: Database, period: String, after cursor: (Int64, String)?, limit: Int) throws -> [Snapshot] {
        let rows: [Data]
        if let (taken, id) = cursor {
            rows = try Data.fetchAll(db, sql: """
                SELECT body FROM snapshot WHERE period = ? AND (taken_ms < ? OR (taken_ms = ? AND id < ?))
                ORDER BY taken_ms DESC, id DESC LIMIT ?
                """, arguments: [period, taken, taken, id, limit])
        } else {
            rows = try Data.fetchAll(db, sql: """
                SELECT body FROM snapshot WHERE period = ? ORDER BY taken_ms DESC, id DESC LIMIT ?
                """, arguments: [period, limit])
        }
        return try rows.map { try Snapshot(serializedBytes: Array($0)) }
    }

    /// What a caller may see of a snapshot: rows and deals of their scope only.
    static func visible(_ snapshot: Snapshot, scope: FigureScope, includeDeals: Bool) -> Snapshot {
        var copy = snapshot
        if scope != .company {
            copy.rows = snapshot.rows.filter { row in
                switch row.scope {
                case .company: false
                case .team: scope.userID == nil && (scope.teamID == nil || scope.teamID == row.scopeId)
                case .user: scope.userID == nil ? true : scope.userID == row.scopeId
                default: false
                }
            }
            copy.deals = snapshot.deals.filter { scope.includes(ownerID: $0.ownerId, teamID: $0.teamId) }
            if scope.teamID != nil, scope.userID == nil {
                let members = Set(copy.deals.map(\.ownerId))
                copy.rows = copy.rows.filter { $0.scope == .team || members.contains($0.scopeId) }
            }
            copy.dealCount = Int64(copy.deals.count)
        }
        if !includeDeals { copy.deals = [] }
        return copy
    }
}
