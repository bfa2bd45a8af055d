import CRMProto
import GRDB
import RPCCore
import ServiceRuntime

extension OpportunityService {
    /// R4: move to `to_stage` when its facts — and every skipped stage's — are on the record or supplied;
    /// moving back needs a reason. Every move is recorded (from, to, who, when, time in the old stage).
    public func advanceStage(_ request: Crm_Opportunities_V1_AdvanceStageRequest, context: ServerContext) async throws
        -> Crm_Opportunities_V1_AdvanceStageResponse {
        try await guarded {
            let caller = try Access.user(context)
            var errors = FieldErrors()
            errors.require("opportunity_id", request.opportunityId)
            if request.version <= 0 { errors.add("version", "required (the version this move changes)") }
            switch request.toStage {
            case .unspecified: errors.add("to_stage", "required")
            case .won, .lost: errors.add("to_stage", "\(request.toStage.protoName) is reached through \(request.toStage == .won ? "MarkWon (R9)" : "MarkLost (R10)"), not AdvanceStage")
            case .unrecognized(let n): errors.add("to_stage", "unknown stage \(n)")
            default: break
            }
            errors.maxLength("reason", request.reason, 2000)
            StageFactsInput.validate(request.facts, into: &errors)
            try errors.throwIfAny()

            let now = clock.nowMs()
            let (o, change) = try await store.write { db -> (Opportunity, StageChange) in
                let c = writeContext(db, now: now, caller: caller)
                var o = try Access.visibleOpportunity(db, id: request.opportunityId, caller: caller)
                try Access.requireVersion(request.version, current: o.version, of: "opportunity \(o.id)")
                try Self.requireOpen(o)
                let from = o.stage, to = request.toStage
                guard let fromRank = StageLadder.rank(from), let toRank = StageLadder.rank(to) else {
                    throw RPCError(.failedPrecondition, "opportunity \(o.id) is in \(from.protoName), which has no next stage")
                }
                if fromRank == toRank {
                    throw ruleViolation("R4", "opportunity \(o.id) is already in the \(StageLadder.label(to)) stage")
                }
                let backwards = toRank < fromRank
                if backwards && request.reason.isBlank {
                    throw ruleViolation("R4", "moving back from \(StageLadder.label(from)) to \(StageLadder.label(to)) needs a reason")
                }
                StageFactsInput.apply(request.facts, to: &o)
                if !backwards {
                    try StageGates.check(entering: StageLadder.entered(from: from, to: to), target: StageLadder.label(to), in: o)
                }
                let change = try Self.moveStage(&o, to: to, reason: request.reason.trimmed, c)
                try OpportunityWrite.commit(&o, settings: try SettingsStore.load(db), c)
                try Self.emitStageChanged(o, change, c)
                return (o, change)
            }
            relay?.wake()
            return .init(opportunity: OpportunityWrite.presented(o, now: now), change: change)
        }
    }

    /// Records a stage move on the opportunity and in its history (the caller commits).
    static func moveStage(_ o: inout Opportunity, to: Stage, reason: String, _ c: WriteContext) throws -> StageChange {
        let from = o.stage
        let backwards = (StageLadder.rank(to) ?? Int.max) < (StageLadder.rank(from) ?? Int.max)
        let change = StageChange(
            id: RecordID.make("stg", nowMs: c.now), opportunityId: o.id, fromStage: from, toStage: to,
            actorId: c.actorID, atMs: c.now, reason: reason, backwards: backwards,
            skippedStages: Self.skippedStages(from: from, to: to, backwards: backwards),
            timeInFromStageMs: max(0, c.now &- o.stageEnteredAtMs))
        try StageChangeTable.insert(c.db, change)
        o.stage = to
        o.stageEnteredAtMs = c.now
        if let rank = StageLadder.rank(to), rank >= StageLadder.rank(.quote)! { o.quoted = true }
        OpportunityWrite.noteAction(&o, at: c.now)
        return change
    }

    /// Stages jumped over: between the two on a forward move; for a win, every stage after `from`.
    static func skippedStages(from: Stage, to: Stage, backwards: Bool) -> [Stage] {
        if backwards || to == .lost { return [] }
        if to == .won { return Array(StageLadder.open.dropFirst((StageLadder.rank(from) ?? -1) + 1)) }
        return StageLadder.skipped(from: from, to: to)
    }

    static func emitStageChanged(_ o: Opportunity, _ change: StageChange, _ c: WriteContext) throws {
        var event = EventOutbox.about(o, kind: .stageChanged, c)
        event.stageChanged = Crm_Events_V1_StageChangedPayload(
            fromStage: change.fromStage, toStage: change.toStage, backwards: change.backwards,
            skippedStages: change.skippedStages, reason: change.reason, ownerId: o.ownerId,
            amountCents: o.amountCents, currency: o.currency, timeInFromStageMs: change.timeInFromStageMs)
        try EventOutbox.enqueue(event, c)
    }
}
