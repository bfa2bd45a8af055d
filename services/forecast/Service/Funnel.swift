import CRMProto
import Foundation

/// Results module: funnel health (counts and amounts per stage, stage-to-stage conversion, median
/// time in stage, stage-advance rate) and KPIs (win rate, deal size, cycle length, activity per rep
/// per week), all computed from the recorded process, never typed in. Counts cover every currency;
/// amounts only the requested one (amounts are not converted).
struct FunnelReport {
    let period: Period
    let currency: String
    let scope: FigureScope
    let nowMs: Int64

    func compute(deals: [String: Deal], moves: [StageMove], followUps: [FollowUpRecord], includeReps: Bool)
        -> Crm_Forecast_V1_GetFunnelResponse {
        let inScope = deals.filter { scope.includes($0.value) }
        let scopedMoves = moves.filter { inScope[$0.opportunityID] != nil }
        let scopedFollowUps = followUps.filter { scope.includes(ownerID: $0.ownerID, teamID: $0.teamID) }

        var response = Crm_Forecast_V1_GetFunnelResponse(period: period.text)
        response.stages = Stage.openStages.map { stage in stageFigures(stage, inScope, scopedMoves) }
        response.conversions = conversions(scopedMoves)
        response.kpis = kpis(inScope, scopedMoves, scopedFollowUps)
        if includeReps { response.reps = reps(inScope, scopedMoves, scopedFollowUps) }
        return response
    }

    private func stageFigures(_ stage: Stage, _ deals: [String: Deal], _ moves: [StageMove]) -> Crm_Forecast_V1_FunnelStage {
        var figures = Crm_Forecast_V1_FunnelStage(stage: stage)
        for deal in deals.values where deal.isOpen && deal.stage == stage {
            figures.openCount += 1
            if deal.currency == currency { figures.openAmountCents += deal.amountCents }
        }
        var durations: [Int64] = []
        for move in moves {
            if move.to == stage { figures.enteredCount += 1 }
            guard move.from == stage else { continue }
            if move.isAdvance { figures.advancedCount += 1 }
            if move.to == .lost { figures.lostCount += 1 }
            if move.timeInFromMs > 0 { durations.append(move.timeInFromMs) }
        }
        figures.advanceRate = ratio(figures.advancedCount, figures.enteredCount)
        figures.medianTimeInStageMs = median(durations)
        return figures
    }

    /// Every (from, to) pair seen in the period; rate = its share of all moves out of `from`.
    private func conversions(_ moves: [StageMove]) -> [Crm_Forecast_V1_StageConversion] {
        var pairs: [Pair: Int64] = [:]
        var exits: [Int32: Int64] = [:]
        for move in moves where !move.isCreation && move.from != move.to {
            pairs[Pair(from: move.from.rawValue, to: move.to.rawValue), default: 0] += 1
            exits[move.from.rawValue, default: 0] += 1
        }
        return pairs.sorted { ($0.key.from, $0.key.to) < ($1.key.from, $1.key.to) }.map { pair, count in
            Crm_Forecast_V1_StageConversion(fromStage: Stage(rawValue: pair.from), toStage: Stage(rawValue: pair.to),
                                            count: count, rate: ratio(count, exits[pair.from] ?? 0))
        }
    }

    private struct Pair: Hashable { var from: Int32; var to: Int32 }

    private func wasOpenInPeriod(_ deal: Deal) -> Bool {
        deal.createdMs < period.endMs && (deal.isOpen || deal.closedMs >= period.startMs)
    }

    private func kpis(_ deals: [String: Deal], _ moves: [StageMove], _ followUps: [FollowUpRecord]) -> Crm_Forecast_V1_Kpis {
        var kpis = Crm_Forecast_V1_Kpis()
        var cycles: [Int64] = []
        var wonInCurrency: Int64 = 0
        var openInPeriod: Int64 = 0
        for deal in deals.values {
            if wasOpenInPeriod(deal) { openInPeriod += 1 }
            if deal.isWon, let day = deal.wonDay, period.contains(day) {
                kpis.wonCount += 1
                if deal.currency == currency {
                    kpis.wonAmountCents += deal.wonAmountCents
                    wonInCurrency += 1
                }
                if deal.createdMs > 0, deal.closedMs >= deal.createdMs { cycles.append(deal.closedMs - deal.createdMs) }
            } else if deal.isLost, let day = deal.closedDay, period.contains(day) {
                kpis.lostCount += 1
            }
        }
        kpis.winRate = ratio(kpis.wonCount, kpis.wonCount + kpis.lostCount)
        kpis.averageDealSizeCents = wonInCurrency > 0 ? kpis.wonAmountCents / wonInCurrency : 0
        kpis.medianCycleMs = median(cycles)
        kpis.stageAdvanceRate = ratio(Int64(moves.filter(\.isAdvance).count), openInPeriod)
        kpis.followUpCount = Int64(followUps.count)
        return kpis
    }

    /// Activity per rep per week (to date for a running period) and their advance and win rates.
    private func reps(_ deals: [String: Deal], _ moves: [StageMove], _ followUps: [FollowUpRecord]) -> [Crm_Forecast_V1_RepActivity] {
        let elapsedMs = max(min(nowMs, period.endMs) - period.startMs, 86_400_000)
        let weeks = Double(elapsedMs) / Double(7 * 86_400_000)
        var reps: [String: Crm_Forecast_V1_RepActivity] = [:]
        var counts: [String: [Crm_Opportunities_V1_ActivityType: Int64]] = [:]
        var open: [String: Int64] = [:]
        var won: [String: Int64] = [:]
        var lost: [String: Int64] = [:]
        func rep(_ user: String, _ team: String) {
            if reps[user] == nil { reps[user] = Crm_Forecast_V1_RepActivity(userId: user, teamId: team) }
        }
        for deal in deals.values where !deal.ownerID.isEmpty {
            guard wasOpenInPeriod(deal) else { continue }
            rep(deal.ownerID, deal.teamID)
            open[deal.ownerID, default: 0] += 1
            if deal.isWon, let day = deal.wonDay, period.contains(day) { won[deal.ownerID, default: 0] += 1 }
            if deal.isLost, let day = deal.closedDay, period.contains(day) { lost[deal.ownerID, default: 0] += 1 }
        }
        for followUp in followUps where !followUp.ownerID.isEmpty {
            rep(followUp.ownerID, followUp.teamID)
            counts[followUp.ownerID, default: [:]][followUp.type, default: 0] += 1
            reps[followUp.ownerID]!.followUps += 1
        }
        for move in moves where move.isAdvance {
            guard let owner = deals[move.opportunityID]?.ownerID, reps[owner] != nil else { continue }
            reps[owner]!.stageAdvances += 1
        }
        return reps.keys.sorted().map { user in
            var activity = reps[user]!
            let byType = counts[user] ?? [:]
            activity.visitsPerWeek = Double(byType[.visit] ?? 0) / weeks
            activity.callsPerWeek = Double(byType[.call] ?? 0) / weeks
            activity.meetingsPerWeek = Double(byType[.meeting] ?? 0) / weeks
            activity.proposalsPerWeek = Double(byType[.proposal] ?? 0) / weeks
            activity.messagesPerWeek = Double(byType[.message] ?? 0) / weeks
            activity.stageAdvanceRate = ratio(activity.stageAdvances, open[user] ?? 0)
            activity.winRate = ratio(won[user] ?? 0, (won[user] ?? 0) + (lost[user] ?? 0))
            return activity
        }
    }
}
