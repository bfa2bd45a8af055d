import CRMProto
import Foundation

typealias ForecastCategory = Crm_Forecast_V1_ForecastCategory

/// One deal of a period with its computed probability and category; strings stay in the index
/// (`slot`, interned owner and team) until a response needs them.
struct ScoredDeal: Sendable {
    var slot: Int
    var owner: Int32
    var team: Int32
    var stage: Stage
    var amountCents: Int64
    var probability: Double
    var category: ForecastCategory

    /// What the deal contributes to the weighted forecast: a win counts in full.
    var weighted: Double { category == .won ? Double(amountCents) : probability * Double(amountCents) }
}

/// Line 6 / R11: Σ probability × amount per person, team and period, with commit / best case /
/// pipeline categories. Pure computation over the deal index, so it can be repeated for 100,000
/// deals well inside a second.
struct ForecastEngine: Sendable {
    let model: ScoringModel
    let settings: ForecastSettings
    let nowMs: Int64

    var nowDay: Int { CivilDate.day(ofMs: nowMs) }

    /// COMMIT: probability >= commit threshold, or in CONTRACT; BEST_CASE: >= best-case threshold.
    func category(probability: Double, stage: Stage) -> ForecastCategory {
        if stage == .contract || probability >= settings.commitMinProbability { return .commit }
        if probability >= settings.bestCaseMinProbability { return .bestCase }
        return .pipeline
    }

    /// One deal's probability from its full facts (same result as the index path).
    func score(_ deal: Deal) -> Double { model.probability(deal.probabilityInputs(at: nowMs)) }

    /// Scores every open deal (the Recompute path); returns how many were scored and their sum.
    func scoreAll(_ index: DealIndex) -> (count: Int, sum: Double) {
        let day = nowDay
        var count = 0
        var sum = 0.0
        for i in 0..<index.count where index.slots[i].status == .open {
            sum += model.probability(index.inputs(i, nowMs: nowMs, nowDay: day))
            count += 1
        }
        return (count, sum)
    }

    /// The deals of `period` in `currency` within `scope`: open ones expected to close in the period
    /// and ones won in it. `otherCurrency` counts open deals of the period in other currencies.
    func dealsOf(_ index: DealIndex, period: Period, currency: String, scope: FigureScope)
        -> (scored: [ScoredDeal], otherCurrency: Int) {
        guard let codes = scope.codes(in: index.names) else { return ([], 0) }
        let currencyCode = index.names.lookup(currency) ?? -1
        let start = Int32(clamping: period.startDay)
        let end = Int32(clamping: period.endDay)
        let day = nowDay
        var scored: [ScoredDeal] = []
        var otherCurrency = 0
        for i in 0..<index.count {
            let slot = index.slots[i]
            if let user = codes.user, slot.owner != user { continue }
            if let team = codes.team, slot.team != team { continue }
            switch slot.status {
            case .open:
                guard slot.expectedCloseDay >= start, slot.expectedCloseDay < end else { continue }
                guard slot.currency == currencyCode else { otherCurrency += 1; continue }
                let p = model.probability(index.inputs(i, nowMs: nowMs, nowDay: day))
                scored.append(ScoredDeal(slot: i, owner: slot.owner, team: slot.team, stage: slot.stage,
                                         amountCents: slot.amountCents, probability: p,
                                         category: category(probability: p, stage: slot.stage)))
            case .won:
                guard slot.currency == currencyCode, slot.wonDay >= start, slot.wonDay < end else { continue }
                scored.append(ScoredDeal(slot: i, owner: slot.owner, team: slot.team, stage: .won,
                                         amountCents: slot.wonAmountCents, probability: 1, category: .won))
            default:
                continue
            }
        }
        return (scored, otherCurrency)
    }

    /// Sums scored deals into forecast rows for the given levels (deals are already in scope).
    static func rows(_ deals: [ScoredDeal], levels: [RowKey], names: Interner, targets: TargetLookup)
        -> [Crm_Forecast_V1_ForecastRow] {
        var company = RowSum()
        var teams = [RowSum](repeating: RowSum(), count: names.count)
        var users = [RowSum](repeating: RowSum(), count: names.count)
        for deal in deals {
            company.add(deal)
            teams[Int(deal.team)].add(deal)
            users[Int(deal.owner)].add(deal)
        }
        return levels.map { key in
            let sum: RowSum
            switch key.scope {
            case .company: sum = company
            case .team: sum = names.lookup(key.id).map { teams[Int($0)] } ?? RowSum()
            default: sum = names.lookup(key.id).map { users[Int($0)] } ?? RowSum()
            }
            return sum.row(key, target: targets.amount(for: key))
        }
    }
}

/// A forecast row's level: the company, a team, or a person.
struct RowKey: Hashable, Sendable {
    var scope: Crm_Forecast_V1_Scope
    var id: String

    static func headline(_ scope: FigureScope) -> RowKey {
        let (level, id) = scope.level
        return RowKey(scope: level, id: id)
    }
}

/// Running totals of one row.
struct RowSum {
    var won: Int64 = 0
    var weighted: Double = 0
    var commit: Int64 = 0
    var bestCase: Int64 = 0
    var pipeline: Int64 = 0
    var openCount: Int64 = 0
    var commitCount: Int64 = 0
    var bestCaseCount: Int64 = 0

    mutating func add(_ deal: ScoredDeal) {
        if deal.category == .won {
            won += deal.amountCents
            weighted += Double(deal.amountCents)
            return
        }
        weighted += deal.probability * Double(deal.amountCents)
        pipeline += deal.amountCents
        openCount += 1
        if deal.category == .commit {
            commit += deal.amountCents
            commitCount += 1
        } else if deal.category == .bestCase {
            bestCase += deal.amountCents
            bestCaseCount += 1
        }
    }

    func row(_ key: RowKey, target: Int64?) -> Crm_Forecast_V1_ForecastRow {
        Crm_Forecast_V1_ForecastRow(
            scope: key.scope, scopeId: key.id, wonCents: won, weightedCents: roundedCents(weighted),
            commitCents: won + commit, bestCaseCents: won + commit + bestCase, pipelineCents: pipeline,
            targetCents: target ?? 0, openDealCount: openCount, commitDealCount: commitCount,
            bestCaseDealCount: bestCaseCount)
    }
}
