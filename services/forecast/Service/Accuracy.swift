import CRMProto
import Foundation

/// Line 6 "quarterly forecast accuracy": a period's snapshots compared with what was actually won
/// in it — error of the forecast amount, and calibration of the probabilities (Brier score and a
/// reliability table by probability bucket).
struct AccuracyReport {
    let period: Period
    let currency: String
    let scope: FigureScope
    let nowMs: Int64
    let buckets: Int

    func compute(snapshots: [Snapshot], deals: [String: Deal]) -> Crm_Forecast_V1_GetAccuracyResponse {
        // What actually happened: wins in the period (scope and currency), per deal id.
        var actualWon: Int64 = 0
        var actualCount: Int64 = 0
        var wonInPeriod = Set<String>()
        for deal in deals.values where deal.isWon {
            guard let day = deal.wonDay, period.contains(day) else { continue }
            wonInPeriod.insert(deal.id)
            guard deal.currency == currency, scope.includes(deal) else { continue }
            actualWon += deal.wonAmountCents
            actualCount += 1
        }
        var response = Crm_Forecast_V1_GetAccuracyResponse(
            period: period.text, periodClosed: period.hasEnded(nowMs: nowMs),
            actualWonCents: actualWon, actualWonCount: actualCount)
        let ordered = snapshots.sorted { ($0.takenAtMs, $0.id) < ($1.takenAtMs, $1.id) }
        response.snapshots = ordered.map { evaluate($0, actualWon: actualWon, wonInPeriod: wonInPeriod) }
        // The reference is the first forecast of the period; a period-close snapshot is taken with
        // hindsight, so it is the reference only when nothing else exists.
        guard let reference = ordered.first(where: { $0.trigger != .periodClose }) ?? ordered.first,
              let headline = response.snapshots.first(where: { $0.snapshotId == reference.id }) else {
            response.reliability = reliability([], wonInPeriod: wonInPeriod)
            return response
        }
        response.referenceSnapshotId = reference.id
        response.accuracy = headline.accuracy
        response.errorCents = headline.errorCents
        response.brierScore = headline.brierScore
        response.reliability = reliability(openDeals(reference), wonInPeriod: wonInPeriod)
        return response
    }

    private func scoped(_ snapshot: Snapshot) -> [Crm_Forecast_V1_SnapshotDeal] {
        snapshot.deals.filter { scope.includes(ownerID: $0.ownerId, teamID: $0.teamId) }
    }

    private func openDeals(_ snapshot: Snapshot) -> [Crm_Forecast_V1_SnapshotDeal] {
        scoped(snapshot).filter { $0.category != .won }
    }

    /// One snapshot against the actual wins. `deal_count` is the number of open deals it scored
    /// (the Brier score's denominator); deals already won when it was taken are certain, not forecast.
    func evaluate(_ snapshot: Snapshot, actualWon: Int64, wonInPeriod: Set<String>) -> Crm_Forecast_V1_SnapshotAccuracy {
        var weighted = 0.0
        var commit: Int64 = 0
        var bestCase: Int64 = 0
        for deal in scoped(snapshot) {
            switch deal.category {
            case .won:
                weighted += Double(deal.amountCents)
                commit &+= deal.amountCents
                bestCase &+= deal.amountCents
            case .commit:
                weighted += deal.probability * Double(deal.amountCents)
                commit &+= deal.amountCents
                bestCase &+= deal.amountCents
            case .bestCase:
                weighted += deal.probability * Double(deal.amountCents)
                bestCase &+= deal.amountCents
            default:
                weighted += deal.probability * Double(deal.amountCents)
            }
        }
        let forecast = roundedCents(weighted)
        let error = forecast &- actualWon
        let open = openDeals(snapshot)
        let brier = open.isEmpty ? 0 : open.reduce(0.0) { sum, deal in
            let outcome = wonInPeriod.contains(deal.opportunityId) ? 1.0 : 0.0
            return sum + (deal.probability - outcome) * (deal.probability - outcome)
        } / Double(open.count)
        return Crm_Forecast_V1_SnapshotAccuracy(
            snapshotId: snapshot.id, takenAtMs: snapshot.takenAtMs, trigger: snapshot.trigger,
            forecastWeightedCents: forecast, commitCents: commit, bestCaseCents: bestCase, errorCents: error,
            absPctError: Self.absPctError(error: error, actual: actualWon),
            accuracy: Self.accuracy(error: error, actual: actualWon), brierScore: brier, dealCount: Int64(open.count))
    }

    /// |error| / actual; when nothing was won, 0 for a perfect forecast of nothing, else 1.
    static func absPctError(error: Int64, actual: Int64) -> Double {
        actual > 0 ? abs(Double(error)) / Double(actual) : (error == 0 ? 0 : 1)
    }

    /// max(0, 1 - |error| / actual); when nothing was won, 1 for a forecast of nothing, else 0.
    static func accuracy(error: Int64, actual: Int64) -> Double {
        actual > 0 ? max(0, 1 - abs(Double(error)) / Double(actual)) : (error == 0 ? 1 : 0)
    }

    /// Predicted vs observed win rate in equal-width probability buckets (the last includes 1.0).
    func reliability(_ deals: [Crm_Forecast_V1_SnapshotDeal], wonInPeriod: Set<String>) -> [Crm_Forecast_V1_ReliabilityBucket] {
        var table = (0..<buckets).map { i in
            Crm_Forecast_V1_ReliabilityBucket(lower: Double(i) / Double(buckets), upper: Double(i + 1) / Double(buckets))
        }
        var sums = [Double](repeating: 0, count: buckets)
        for deal in deals {
            // The epsilon keeps 0.3 computed as 0.29999999999999993 in the 0.3 bucket.
            let index = min(max(Int(deal.probability * Double(buckets) + 1e-9), 0), buckets - 1)
            table[index].dealCount += 1
            sums[index] += deal.probability
            if wonInPeriod.contains(deal.opportunityId) { table[index].wonCount += 1 }
        }
        for i in 0..<buckets where table[i].dealCount > 0 {
            table[i].meanPredicted = sums[i] / Double(table[i].dealCount)
            table[i].observedWinRate = Double(table[i].wonCount) / Double(table[i].dealCount)
        }
        return table
    }
}
