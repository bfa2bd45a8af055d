import CRMProto
import CRMStore
import Foundation
import GRDB
import Logging
import RPCCore
import ServiceRuntime

/// Pulls crm-opportunities' ExportForForecast feed (R11/R12 facts): a full pass on start and on
/// `Recompute(full_resync)`, incremental (changed_since_ms) otherwise. Events carry most changes as
/// they happen; the feed carries what no event announces (amount or close-date edits, task
/// counts, the confirmed key person) and heals anything missed.
struct OpportunitySync: Sendable {
    let store: Store
    let book: DealBook
    let peers: Peers
    let clock: any WallClock
    let logger: Logger

    static let cursorKey = "export_cursor_ms"

    /// Returns how many records were applied; throws the peer's error (UNAVAILABLE when it is down).
    @discardableResult
    func run(full: Bool, timeout: Duration = .seconds(60)) async throws -> Int {
        let since = full ? 0 : try await store.read { db in try SyncState.get(db, Self.cursorKey) }
        let client = Crm_Opportunities_V1_OpportunityServiceClient(channel: peers.channel("opportunities"))
        let request = Crm_Opportunities_V1_ExportForForecastRequest(
            changedSinceMs: since, includeStageHistory: true, includeRiskHistory: true, batchSize: 500)
        let stream = try await client.exportForForecast(request, options: peers.options(for: nil, timeout: timeout))
        var applied = 0
        var snapshotAt: Int64 = 0
        let now = clock.nowMs()
        for try await batch in stream {
            snapshotAt = max(snapshotAt, batch.snapshotAtMs)
            let records = batch.records
            let book = self.book
            try await store.write { db in
                let tx = DealTransaction(db: db, book: book)
                for record in records { try Self.apply(tx, record, syncedAtMs: now) }
                tx.publish()
            }
            applied += records.count
        }
        let cursor = snapshotAt > 0 ? snapshotAt : now
        try await store.write { db in
            try SyncState.set(db, Self.cursorKey, cursor)
            try SyncState.set(db, "facts_as_of_ms", max(try SyncState.get(db, "facts_as_of_ms"), cursor))
        }
        logger.info("opportunity facts synced", metadata: ["records": "\(applied)", "full": "\(full)"])
        return applied
    }

    /// One exported record replaces the deal's current facts (unless an event already showed a
    /// later version) and adds its stage and risk history.
    static func apply(_ tx: DealTransaction, _ record: Crm_Opportunities_V1_ForecastRecord, syncedAtMs: Int64) throws {
        guard var opportunity = record.opportunity, !opportunity.id.isEmpty else { return }
        // A trusted peer, but a sum must never trap: amounts and instants are clamped to the bounds.
        opportunity.amountCents = Bounds.clampAmount(opportunity.amountCents)
        opportunity.signedAmountCents = Bounds.clampAmount(opportunity.signedAmountCents)
        opportunity.createdAtMs = Bounds.clampInstant(opportunity.createdAtMs)
        opportunity.closedAtMs = Bounds.clampInstant(opportunity.closedAtMs)
        opportunity.stageEnteredAtMs = Bounds.clampInstant(opportunity.stageEnteredAtMs)
        opportunity.nextStepDueMs = Bounds.clampInstant(opportunity.nextStepDueMs)
        var deal = tx.deal(opportunity.id) ?? Deal(id: opportunity.id)
        if opportunity.version >= deal.aggregateVersion {
            let facts = record.facts ?? Crm_Opportunities_V1_ActivityFacts()
            let wasOpen = deal.isOpen
            deal.aggregateVersion = opportunity.version
            deal.title = opportunity.title
            deal.customerID = opportunity.customerId
            deal.customerName = opportunity.customerName
            deal.ownerID = opportunity.ownerId
            deal.teamID = opportunity.teamId
            deal.leadID = opportunity.leadId
            deal.source = opportunity.source.rawValue
            deal.currency = opportunity.currency
            deal.amountCents = opportunity.amountCents
            deal.expectedCloseDate = opportunity.expectedCloseDate
            deal.createdMs = opportunity.createdAtMs
            deal.stageEnteredMs = opportunity.stageEnteredAtMs
            deal.keyPersonPresent = !opportunity.keyPersonContactId.isEmpty
            deal.keyPersonConfirmed = opportunity.keyPersonConfirmed || facts.keyPersonConfirmed
            deal.keyPersonMet = opportunity.keyPersonMet || facts.keyPersonMet
            deal.faceToFaceHeld = opportunity.faceToFaceHeld || facts.faceToFaceHeld
            deal.quoted = opportunity.quoted || facts.quoted
            deal.followUpCount = max(Int64(opportunity.followUpCount), facts.followUpCount)
            deal.firstFollowUpMs = facts.firstFollowUpAtMs
            deal.lastFollowUpMs = max(opportunity.lastFollowUpAtMs, facts.lastFollowUpAtMs)
            deal.lastActionMs = opportunity.lastActionAtMs
            deal.syncedFollowUps30 = facts.followUpsLast30Days
            deal.syncedAtMs = syncedAtMs
            deal.nextStepDueMs = opportunity.nextStepDueMs
            deal.openTaskCount = record.openTaskCount
            deal.overdueTaskCount = record.overdueTaskCount
            deal.oldestOverdueDueMs = Bounds.clampInstant(record.oldestOverdueDueMs)
            deal.updatedMs = opportunity.updatedAtMs
            let risk = opportunity.risk ?? Crm_Opportunities_V1_Risk()
            deal.riskLevel = risk.level == .unspecified ? .green : risk.level
            deal.riskYellow = Int32(risk.reasons.filter { $0.level == .yellow }.count)
            deal.riskRed = Int32(risk.reasons.filter { $0.level == .red }.count)
            let status: OpportunityStatus = opportunity.status == .unspecified
                ? (opportunity.stage == .won ? .won : opportunity.stage == .lost ? .lost : .open) : opportunity.status
            if status != .open {
                let fromStage = lastOpenStage(record.stageHistory) ?? (deal.stage.isOpenStage ? deal.stage : .relationship)
                if deal.closing == nil {
                    // Closed before we ever saw it open: freeze what the record tells about its last open state.
                    var open = deal
                    open.stage = fromStage
                    if !wasOpen { open.followUpTimes = deal.followUpTimes }
                    deal.closing = open.closingFacts(at: opportunity.closedAtMs > 0 ? opportunity.closedAtMs : syncedAtMs,
                                                     fromStage: fromStage)
                }
                deal.closedFromStage = fromStage
                deal.closedMs = opportunity.closedAtMs
                deal.riskYellow = 0
                deal.riskRed = 0
            }
            deal.status = status
            deal.stage = opportunity.stage == .unspecified ? .relationship : opportunity.stage
            deal.signedAmountCents = opportunity.signedAmountCents
            deal.signedDate = opportunity.signedDate
            deal.lossReview = opportunity.loss
            try tx.save(deal)
        }
        for change in record.stageHistory {
            try StageHistory.record(tx.db, opportunityID: opportunity.id, atMs: Bounds.clampInstant(change.atMs),
                                    from: change.fromStage, to: change.toStage, backwards: change.backwards,
                                    timeInFromMs: Bounds.clampInstant(change.timeInFromStageMs), actor: change.actorId)
        }
        for flag in record.riskHistory {
            try tx.db.execute(sql: """
                INSERT INTO risk_flag (opportunity_id, kind, raised_ms, level, cleared_ms) VALUES (?, ?, ?, ?, ?)
                ON CONFLICT (opportunity_id, kind, raised_ms) DO UPDATE SET level = excluded.level, cleared_ms = excluded.cleared_ms
                """, arguments: [opportunity.id, flag.kind.rawValue, flag.raisedAtMs, flag.level.rawValue, flag.clearedAtMs])
        }
    }

    /// The stage a deal was in just before it was won or lost.
    static func lastOpenStage(_ history: [Crm_Opportunities_V1_StageChange]) -> Stage? {
        history.sorted { $0.atMs < $1.atMs }.last { !$0.toStage.isOpenStage && $0.fromStage.isOpenStage }?.fromStage
    }
}
