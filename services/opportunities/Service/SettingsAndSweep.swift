import CRMProto
import CRMStore
import GRDB
import RPCCore
import ServiceRuntime

extension OpportunityService {
    /// The configuration in force (R5 junk list, R7 big deal, R8 thresholds).
    public func getSettings(_ request: Crm_Opportunities_V1_GetSettingsRequest, context: ServerContext) async throws
        -> Crm_Opportunities_V1_GetSettingsResponse {
        try await guarded {
            _ = try Access.userOrSystem(context)
            return .init(settings: try await store.read { db in try SettingsStore.load(db) })
        }
    }

    /// Admin: change configuration, optimistic by version (0 while the defaults were never changed).
    public func updateSettings(_ request: Crm_Opportunities_V1_UpdateSettingsRequest, context: ServerContext) async throws
        -> Crm_Opportunities_V1_UpdateSettingsResponse {
        try await guarded {
            try Access.requireAdminOrSystem(try Access.userOrSystem(context), "changing settings")
            let settings = try await store.write { db -> OpportunitySettings in
                let current = try SettingsStore.load(db)
                try Access.requireVersion(request.version, current: current.version, of: "settings")
                let next = try SettingsStore.apply(request, to: current)
                try SettingsStore.save(db, next)
                return next
            }
            return .init(settings: settings)
        }
    }

    /// R8: re-evaluate every open opportunity and expire snoozes now (admin, or the suite's tooling).
    public func runSweep(_ request: Crm_Opportunities_V1_RunSweepRequest, context: ServerContext) async throws
        -> Crm_Opportunities_V1_RunSweepResponse {
        try await guarded {
            try Access.requireAdminOrSystem(try Access.userOrSystem(context), "running the risk sweep")
            let result = try await RiskSweep(store: store).run(now: clock.nowMs(), dryRun: request.dryRun)
            relay?.wake()
            return result
        }
    }
}

/// The R8 sweep: time alone turns deals yellow and red (and snoozes expire), so every open
/// opportunity is re-evaluated periodically — in batches, each its own short transaction, so the
/// sweep never holds the writer for long.
struct RiskSweep {
    let store: Store
    static let batchSize = 200

    func run(now: Int64, dryRun: Bool) async throws -> Crm_Opportunities_V1_RunSweepResponse {
        var result = Crm_Opportunities_V1_RunSweepResponse(sweptAtMs: now)
        var after = ""
        while true {
            let start = after
            let batch = try await store.write { db -> (last: String?, evaluated: Int64, raised: [String], cleared: [String]) in
                let ids = try String.fetchAll(db, sql: """
                    SELECT id FROM opportunities WHERE status = ? AND id > ? ORDER BY id LIMIT ?
                    """, arguments: [OpportunityStatus.open.rawValue, start, Self.batchSize])
                let settings = try SettingsStore.load(db)
                let c = WriteContext(db: db, now: now, actorID: WriteContext.systemActor, actorTeam: "", requestID: "")
                var raised: [String] = [], cleared: [String] = []
                for id in ids {
                    guard var o = try OpportunityTable.find(db, id: id) else { continue }
                    let before = o.risk?.level ?? .green
                    let snoozeExpired = o.risk?.snooze.map { $0.resumeAtMs <= now } ?? false
                    if snoozeExpired { o.risk?.snooze = nil }
                    let after: RiskLevel
                    if dryRun {
                        after = RiskRules(settings: settings).evaluate(o, now: now).level
                    } else {
                        let outcome = try RiskTracker.reevaluate(&o, settings: settings, c)
                        if outcome.changed || snoozeExpired { try OpportunityTable.save(db, o, changedAtMs: now) }
                        after = outcome.to
                    }
                    let from = before == .unspecified ? RiskLevel.green : before
                    if after.rawValue > from.rawValue { raised.append(id) }
                    if after.rawValue < from.rawValue { cleared.append(id) }
                }
                return (ids.last, Int64(ids.count), raised, cleared)
            }
            result.evaluated += batch.evaluated
            result.raisedOpportunityIds += batch.raised
            result.clearedOpportunityIds += batch.cleared
            guard let last = batch.last, batch.evaluated == Self.batchSize else { break }
            after = last
        }
        return result
    }
}
