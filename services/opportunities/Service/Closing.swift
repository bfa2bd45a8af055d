import CRMProto
import GRDB
import RPCCore
import ServiceRuntime

extension OpportunityService {
    /// R9: a win records the signed amount and date (every R4 gate fact present) and emits DEAL_WON,
    /// which crm-tickets turns into the after-sales line and crm-customers into lifecycle "won".
    public func markWon(_ request: Crm_Opportunities_V1_MarkWonRequest, context: ServerContext) async throws
        -> Crm_Opportunities_V1_MarkWonResponse {
        try await guarded {
            let caller = try Access.user(context)
            var errors = FieldErrors()
            errors.require("opportunity_id", request.opportunityId)
            if request.version <= 0 { errors.add("version", "required (the version this change applies to)") }
            if request.signedAmountCents <= 0 {
                errors.add("signed_amount_cents", request.signedAmountCents == 0 ? "required (R9: the signed amount)" : "must be positive")
            }
            let signedDate = errors.require("signed_date", request.signedDate)
            if !signedDate.isEmpty && CivilDate(parsing: signedDate) == nil {
                errors.add("signed_date", "not a date (YYYY-MM-DD): '\(signedDate)'")
            }
            errors.maxLength("note", request.note, 2000)
            StageFactsInput.validate(request.facts, into: &errors)
            try errors.throwIfAny()

            let now = clock.nowMs()
            let (o, change) = try await store.write { db -> (Opportunity, StageChange) in
                let c = writeContext(db, now: now, caller: caller)
                var o = try Access.visibleOpportunity(db, id: request.opportunityId, caller: caller)
                try Access.requireVersion(request.version, current: o.version, of: "opportunity \(o.id)")
                try Self.requireOpen(o)
                StageFactsInput.apply(request.facts, to: &o)
                try StageGates.check(entering: StageLadder.open, target: "won", in: o)
                let change = try Self.moveStage(&o, to: .won, reason: request.note.trimmed, c)
                o.status = .won
                o.signedAmountCents = request.signedAmountCents
                o.signedDate = CivilDate(parsing: signedDate)!.description
                o.closedAtMs = now
                try TaskBook.closeAll(of: &o, note: "opportunity won", c)
                try OpportunityWrite.commit(&o, settings: try SettingsStore.load(db), c)
                try Self.emitStageChanged(o, change, c)
                var event = EventOutbox.about(o, kind: .dealWon, c)
                event.dealWon = Crm_Events_V1_DealWonPayload(
                    title: o.title, ownerId: o.ownerId, teamId: o.teamId, signedAmountCents: o.signedAmountCents,
                    currency: o.currency, signedDate: o.signedDate, contractDocumentRef: o.contractDocumentRef,
                    wonFromStage: change.fromStage, source: o.source, customerName: o.customerName)
                try EventOutbox.enqueue(event, c)
                return (o, change)
            }
            relay?.wake()
            return .init(opportunity: o, change: change)
        }
    }

    /// R10: every loss is reviewed — lost to whom, why, at which stage it went wrong, and the follow-up
    /// strategy — else FAILED_PRECONDITION naming R10 and every missing answer. Emits DEAL_LOST.
    public func markLost(_ request: Crm_Opportunities_V1_MarkLostRequest, context: ServerContext) async throws
        -> Crm_Opportunities_V1_MarkLostResponse {
        try await guarded {
            let caller = try Access.user(context)
            var errors = FieldErrors()
            errors.require("opportunity_id", request.opportunityId)
            if request.version <= 0 { errors.add("version", "required (the version this change applies to)") }
            let review = request.review ?? LossReview()
            LossRules.validateFormat(review, into: &errors)
            try errors.throwIfAny()

            let now = clock.nowMs()
            let (o, change) = try await store.write { db -> (Opportunity, StageChange) in
                let c = writeContext(db, now: now, caller: caller)
                var o = try Access.visibleOpportunity(db, id: request.opportunityId, caller: caller)
                try Access.requireVersion(request.version, current: o.version, of: "opportunity \(o.id)")
                try Self.requireOpen(o)
                let reached = try LossRules.highestStageReached(db, o)
                try LossRules.requireComplete(review, reached: reached)
                let change = try Self.moveStage(&o, to: .lost, reason: review.reason.protoName, c)
                o.status = .lost
                o.loss = LossRules.cleaned(review)
                o.closedAtMs = now
                try TaskBook.closeAll(of: &o, note: "opportunity lost", c)
                try OpportunityWrite.commit(&o, settings: try SettingsStore.load(db), c)
                try Self.emitStageChanged(o, change, c)
                var event = EventOutbox.about(o, kind: .dealLost, c)
                event.dealLost = Crm_Events_V1_DealLostPayload(
                    title: o.title, ownerId: o.ownerId, teamId: o.teamId, amountCents: o.amountCents,
                    currency: o.currency, lostAtStage: change.fromStage, review: o.loss, source: o.source)
                try EventOutbox.enqueue(event, c)
                return (o, change)
            }
            relay?.wake()
            return .init(opportunity: o, change: change)
        }
    }
}

/// R10's loss review.
enum LossRules {
    /// Malformed values (INVALID_ARGUMENT): unknown enum numbers, a bad revisit date, oversized text.
    static func validateFormat(_ r: LossReview, into errors: inout FieldErrors) {
        if case .unrecognized(let n) = r.lostTo { errors.add("review.lost_to", "unknown value \(n)") }
        if case .unrecognized(let n) = r.reason { errors.add("review.reason", "unknown value \(n)") }
        if case .unrecognized(let n) = r.wentWrongStage { errors.add("review.went_wrong_stage", "unknown stage \(n)") }
        if !r.revisitDate.isBlank && CivilDate(parsing: r.revisitDate.trimmed) == nil {
            errors.add("review.revisit_date", "not a date (YYYY-MM-DD): '\(r.revisitDate)'")
        }
        errors.maxLength("review.competitor", r.competitor, 200)
        errors.maxLength("review.reason_detail", r.reasonDetail, 4000)
        errors.maxLength("review.follow_up_strategy", r.followUpStrategy, 4000)
    }

    /// FAILED_PRECONDITION "R10: …" naming every missing answer.
    static func requireComplete(_ r: LossReview, reached: Stage) throws {
        var missing: [String] = []
        switch r.lostTo {
        case .unspecified: missing.append("review.lost_to: required (a competitor, or no decision)")
        case .competitor where r.competitor.isBlank: missing.append("review.competitor: required when lost to a competitor")
        default: break
        }
        if r.reason == .unspecified { missing.append("review.reason: required (why it was lost)") }
        if r.reason == .other && r.reasonDetail.isBlank { missing.append("review.reason_detail: required when the reason is OTHER") }
        if r.wentWrongStage == .unspecified {
            missing.append("review.went_wrong_stage: required (the stage where it went wrong)")
        } else if let rank = StageLadder.rank(r.wentWrongStage) {
            if rank > (StageLadder.rank(reached) ?? 0) {
                missing.append("review.went_wrong_stage: the deal never reached the \(StageLadder.label(r.wentWrongStage)) stage (furthest: \(StageLadder.label(reached)))")
            }
        } else if case .unrecognized = r.wentWrongStage {
        } else {
            missing.append("review.went_wrong_stage: must be an open stage (relationship to contract)")
        }
        if r.followUpStrategy.isBlank { missing.append("review.follow_up_strategy: required (how the account is followed from here)") }
        if !missing.isEmpty {
            throw ruleViolation("R10", "every loss is reviewed: \(missing.joined(separator: "; "))")
        }
    }

    /// The furthest open stage the deal ever entered (from its stage history).
    static func highestStageReached(_ db: Database, _ o: Opportunity) throws -> Stage {
        let stages = try StageChangeTable.history(db, opportunityID: o.id).map(\.toStage) + [o.stage]
        return stages.filter { StageLadder.rank($0) != nil }.max { StageLadder.rank($0)! < StageLadder.rank($1)! } ?? o.stage
    }

    static func cleaned(_ r: LossReview) -> LossReview {
        var r = r
        r.competitor = r.competitor.trimmed
        r.reasonDetail = r.reasonDetail.trimmed
        r.followUpStrategy = r.followUpStrategy.trimmed
        r.revisitDate = CivilDate(parsing: r.revisitDate.trimmed)?.description ?? ""
        return r
    }
}
