import CRMProto
import CRMStore
import Foundation
import GRDB
import Logging
import RPCCore
import ServiceRuntime

/// The schedule of the results module, on the injected clock: a forecast snapshot of the current
/// month and quarter every `snapshot_every_ms`, one PERIOD_CLOSE snapshot when a forecasted period
/// ends, and the R11 refit every `refit_every_ms` once enough closed deals exist. Runs in the
/// background and on demand (Recompute), so tests move the clock instead of waiting.
struct ForecastScheduler: Sendable {
    let store: Store
    let book: DealBook
    let clock: any WallClock
    let trainer: ModelTrainer
    let logger: Logger

    static let lastScheduledKey = "last_scheduled_snapshot_ms"

    func runDueWork() async throws {
        try await takeScheduledSnapshots()
        try await closeEndedPeriods()
        try await refitIfDue()
    }

    private func context() async throws -> (ForecastSettings, ScoringModel, Int64) {
        try await store.read { db in
            let settings = try SettingsStore.load(db)
            return (settings, try ModelRegistry.active(db, settings: settings), try SyncState.get(db, Self.lastScheduledKey))
        }
    }

    private func takeScheduledSnapshots() async throws {
        let now = clock.nowMs()
        let (settings, model, last) = try await context()
        guard settings.snapshotEveryMs > 0 else { return }
        if last == 0 {
            // The schedule starts now; the first scheduled snapshot comes one interval later.
            try await store.write { db in try SyncState.set(db, Self.lastScheduledKey, now) }
            return
        }
        guard now - last >= settings.snapshotEveryMs else { return }
        let engine = ForecastEngine(model: model, settings: settings, nowMs: now)
        let index = book.index
        var snapshots: [Snapshot] = []
        for period in [Period.month(containing: now), Period.quarter(containing: now)] {
            let targets = try await store.read { db in try TargetStore.load(db, period: period.text) }
            snapshots.append(SnapshotBuilder.build(engine: engine, index: index, period: period, currency: settings.defaultCurrency,
                                                   targets: targets, trigger: .scheduled, label: "scheduled"))
        }
        let taken = snapshots
        let every = settings.snapshotEveryMs
        // Checked again inside the write: the background tick and Recompute may race to it.
        let saved = try await store.write { db -> Bool in
            guard now - (try SyncState.get(db, Self.lastScheduledKey)) >= every else { return false }
            for snapshot in taken { try SnapshotStore.save(db, snapshot) }
            try SyncState.set(db, Self.lastScheduledKey, now)
            return true
        }
        if saved { logger.info("scheduled forecast snapshots taken", metadata: ["periods": "\(taken.map(\.period))"]) }
    }

    /// A period that has ended and was forecasted (has snapshots) gets one closing snapshot.
    private func closeEndedPeriods() async throws {
        let now = clock.nowMs()
        let (settings, model, _) = try await context()
        let currency = settings.defaultCurrency
        for period in Period.previousMonthAndQuarter(now) where period.hasEnded(nowMs: now) {
            let due = try await store.read { db -> Bool in
                let closed = try Bool.fetchOne(db, sql: "SELECT 1 FROM closed_period WHERE period = ? AND currency = ?",
                                               arguments: [period.text, currency]) ?? false
                let forecasted = try Bool.fetchOne(db, sql: "SELECT 1 FROM snapshot WHERE period = ? AND currency = ? LIMIT 1",
                                                   arguments: [period.text, currency]) ?? false
                return !closed && forecasted
            }
            guard due else { continue }
            let targets = try await store.read { db in try TargetStore.load(db, period: period.text) }
            let snapshot = SnapshotBuilder.build(
                engine: ForecastEngine(model: model, settings: settings, nowMs: now), index: book.index, period: period,
                currency: currency, targets: targets, trigger: .periodClose, label: "period close")
            let saved = try await store.write { db -> Bool in
                try db.execute(sql: "INSERT OR IGNORE INTO closed_period (period, currency, snapshot_id, closed_ms) VALUES (?, ?, ?, ?)",
                               arguments: [period.text, currency, snapshot.id, now])
                guard db.changesCount > 0 else { return false }  // closed meanwhile by a concurrent run
                try SnapshotStore.save(db, snapshot)
                return true
            }
            if saved { logger.info("period closed", metadata: ["period": "\(period.text)", "snapshot": "\(snapshot.id)"]) }
        }
    }

    private func refitIfDue() async throws {
        let now = clock.nowMs()
        let (settings, _, _) = try await context()
        guard settings.refitEveryMs > 0 else { return }
        let lastFit = try await store.read { db in try ModelRegistry.lastFitMs(db) }
        guard lastFit == 0 || now - lastFit >= settings.refitEveryMs else { return }
        guard trainer.examples().count >= Int(settings.minClosedDealsForFit) else { return }
        _ = try await trainer.fit(adopt: true, holdoutFraction: 0, seed: now)
    }
}
