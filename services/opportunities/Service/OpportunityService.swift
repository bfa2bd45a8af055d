import CRMProto
import CRMStore
import GRDB
import RPCCore
import ServiceRuntime

/// `crm.opportunities.v1.OpportunityService`. The methods live in extensions, one file per concern:
/// CreateAndUpdate, Listing, StageMoves, FollowUps, Tasks, RiskAndFocus, Closing, Exports, SettingsAndSweep.
public struct OpportunityService: Crm_Opportunities_V1_OpportunityServiceHandler {
    let store: Store
    let clock: any WallClock
    let directory: Directory
    /// Nudged after a transaction that queued events.
    let relay: OutboxRelay?

    init(store: Store, clock: any WallClock, directory: Directory, relay: OutboxRelay?) {
        self.store = store
        self.clock = clock
        self.directory = directory
        self.relay = relay
    }

    /// The context of a write by `caller` (or the system).
    func writeContext(_ db: Database, now: Int64, caller: Caller?, requestID: String = "") -> WriteContext {
        WriteContext(db: db, now: now, actorID: caller?.userID ?? WriteContext.systemActor,
                     actorTeam: caller?.team ?? "", requestID: requestID)
    }
}

/// Finishing a write of an opportunity, the same way everywhere.
enum OpportunityWrite {
    /// Stamps the edit (a user's edit bumps `version`; derived updates by the system do not), re-evaluates
    /// R8 (every write re-evaluates) and saves.
    @discardableResult
    static func commit(_ o: inout Opportunity, settings: OpportunitySettings, _ c: WriteContext,
                       bumpVersion: Bool = true) throws -> RiskTracker.Outcome {
        if bumpVersion {
            o.version += 1
            o.updatedAtMs = c.now
        }
        let outcome = try RiskTracker.reevaluate(&o, settings: settings, c)
        try OpportunityTable.save(c.db, o, changedAtMs: c.now)
        return outcome
    }

    /// Records an action on the deal (R8 "no action" counts from the latest one).
    static func noteAction(_ o: inout Opportunity, at ms: Int64) {
        o.lastActionAtMs = max(o.lastActionAtMs, ms)
    }

    /// What a client sees: an expired snooze is not shown even before the sweep removes it.
    static func presented(_ o: Opportunity, now: Int64) -> Opportunity {
        var o = o
        if let snooze = o.risk?.snooze, snooze.resumeAtMs <= now { o.risk?.snooze = nil }
        return o
    }
}
