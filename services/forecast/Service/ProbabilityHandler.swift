import CRMProto
import Foundation
import RPCCore
import ServiceRuntime

/// R11: probabilities computed from facts, explained; the fitted model; recompute.
extension ForecastServiceHandler {
    func getProbability(_ request: Crm_Forecast_V1_GetProbabilityRequest, context: ServerContext) async throws
        -> Crm_Forecast_V1_GetProbabilityResponse {
        let caller = try Caller(context: context)
        var errors = FieldErrors()
        let ids = request.opportunityIds.map { $0.trimmingCharacters(in: .whitespaces) }
        if ids.isEmpty { errors.add("opportunity_ids", "required") }
        if ids.count > 500 { errors.add("opportunity_ids", "at most 500, got \(ids.count)") }
        if ids.contains(where: \.isEmpty) { errors.add("opportunity_ids", "must not contain empty ids") }
        if let whatIf = request.whatIf {
            if ids.count != 1 { errors.add("what_if", "only with exactly one opportunity_id, got \(ids.count)") }
            Self.validate(whatIf, errors: &errors)
        }
        try errors.throwIfAny()

        let configuration = try await configuration()
        let now = clock.nowMs()
        var response = Crm_Forecast_V1_GetProbabilityResponse()
        var seen = Set<String>()
        for id in ids where seen.insert(id).inserted {
            // Invisible and unknown look the same (SUITE.md visibility).
            guard let deal = book[id], caller.canSee(ownerID: deal.ownerID, teamID: deal.teamID) else {
                response.missingIds.append(id)
                continue
            }
            var inputs = deal.probabilityInputs(at: now)
            if deal.isWon { inputs.stage = .won }
            if deal.isLost { inputs.stage = .lost }
            if let whatIf = request.whatIf { Self.override(&inputs, with: whatIf) }
            let (probability, baseLogit, factors) = configuration.model.explain(inputs)
            response.results.append(Crm_Forecast_V1_ProbabilityExplanation(
                opportunityId: id, probability: probability, model: configuration.model.info, stage: inputs.stage,
                baseProbability: inputs.stage.isOpenStage ? sigmoid(baseLogit) : probability, baseLogit: baseLogit,
                factors: factors, facts: Self.facts(inputs), computedAtMs: now, whatIf: request.whatIf != nil))
        }
        return response
    }

    func fitModel(_ request: Crm_Forecast_V1_FitModelRequest, context: ServerContext) async throws
        -> Crm_Forecast_V1_FitModelResponse {
        let caller = try Caller(context: context)
        try requireAdmin(caller, "FitModel")
        var errors = FieldErrors()
        if request.holdoutFraction != 0, !(request.holdoutFraction >= 0.05 && request.holdoutFraction <= 0.5) {
            errors.add("holdout_fraction", "must be 0 (configured) or between 0.05 and 0.5, got \(request.holdoutFraction)")
        }
        try errors.throwIfAny()
        return try await trainer.fit(adopt: request.adopt, holdoutFraction: request.holdoutFraction, seed: request.seed)
    }

    /// Refreshes facts from crm-opportunities, then scores every open opportunity with the active
    /// model; `duration_ms` is the scoring time (the 100,000-deal benchmark figure). Also runs any
    /// scheduled work that has come due (snapshots, period close, refit), so tests and operators
    /// can drive the schedule after moving the clock.
    func recompute(_ request: Crm_Forecast_V1_RecomputeRequest, context: ServerContext) async throws
        -> Crm_Forecast_V1_RecomputeResponse {
        let caller = try Caller(context: context)
        try caller.requireManager("Recompute")
        if request.fullResync {
            do {
                try await sync.run(full: true)
            } catch let error as RPCError {
                throw RPCError(.unavailable, "crm-opportunities: \(error.code): \(error.message)")
            }
        } else {
            do { try await sync.run(full: false, timeout: .seconds(3)) } catch {
                logger.notice("incremental fact sync skipped", metadata: ["error": "\(error)"])
            }
        }
        let configuration = try await configuration()
        let engine = engine(configuration, nowMs: clock.nowMs())
        let index = book.index
        let started = ContinuousClock.now
        let scored = engine.scoreAll(index)
        let elapsed = ContinuousClock.now - started
        try await scheduler.runDueWork()
        let model = try await self.configuration().model
        return Crm_Forecast_V1_RecomputeResponse(
            opportunitiesScored: Int64(scored.count),
            durationMs: elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000,
            model: model.info, dataAsOfMs: configuration.factsAsOfMs)
    }

    // MARK: what-if

    static func validate(_ facts: Crm_Forecast_V1_ProbabilityFacts, errors: inout FieldErrors) {
        if let stage = facts.stage, !stage.isOpenStage {
            errors.add("what_if.stage", "must be an open stage (RELATIONSHIP..CONTRACT), got \(stage.protoName)")
        }
        if let n = facts.followUpsLast30Days, n < 0 { errors.add("what_if.follow_ups_last_30_days", "must not be negative") }
        if let n = facts.openRiskCount, n < 0 { errors.add("what_if.open_risk_count", "must not be negative") }
        if let n = facts.daysSinceLastFollowUp, n < 0 { errors.add("what_if.days_since_last_follow_up", "must not be negative") }
    }

    /// Applies what-if facts. Risk: `open_risk_count` flags, all red when `risk_level` is RED,
    /// otherwise yellow.
    static func override(_ inputs: inout ProbabilityInputs, with facts: Crm_Forecast_V1_ProbabilityFacts) {
        if let stage = facts.stage { inputs.stage = stage }
        if let value = facts.keyPersonConfirmed { inputs.keyPersonConfirmed = value }
        if let value = facts.quoteGiven { inputs.quoteGiven = value }
        if let value = facts.faceToFaceHeld { inputs.faceToFaceHeld = value }
        if let value = facts.daysToExpectedClose { inputs.daysToExpectedClose = Int(value) }
        if let value = facts.followUpsLast30Days { inputs.followUps30 = Int(value) }
        if let value = facts.daysSinceLastFollowUp { inputs.daysSinceLastFollowUp = Int(value) }
        if facts.openRiskCount != nil || facts.riskLevel != nil {
            let count = Int(facts.openRiskCount ?? Int32(inputs.openRiskCount))
            let level = facts.riskLevel ?? inputs.riskLevel
            inputs.redFlags = level == .red ? count : 0
            inputs.yellowFlags = level == .red ? 0 : count
            inputs.riskLevel = count == 0 ? .green : (level == .red ? .red : .yellow)
        }
    }

    static func facts(_ inputs: ProbabilityInputs) -> Crm_Forecast_V1_ProbabilityFacts {
        Crm_Forecast_V1_ProbabilityFacts(
            stage: inputs.stage, keyPersonConfirmed: inputs.keyPersonConfirmed, quoteGiven: inputs.quoteGiven,
            faceToFaceHeld: inputs.faceToFaceHeld, daysToExpectedClose: inputs.daysToExpectedClose.map { Int32(clamping: $0) },
            followUpsLast30Days: Int32(clamping: inputs.followUps30),
            daysSinceLastFollowUp: inputs.daysSinceLastFollowUp.map { Int32(clamping: $0) },
            openRiskCount: Int32(clamping: inputs.openRiskCount), riskLevel: inputs.riskLevel)
    }
}
