import CRMProto
import Foundation

/// R10 reviews aggregated: deals lost in the period by competitor ("no decision" as its own key),
/// by reason and by the stage where it went wrong. Counts cover every currency; amounts only the
/// requested one.
struct LossAnalysis {
    let period: Period
    let currency: String
    let scope: FigureScope

    func compute(deals: [String: Deal], includeItems: Bool) -> Crm_Forecast_V1_GetLossAnalysisResponse {
        let lost = deals.values.filter { deal in
            guard deal.isLost, let day = deal.closedDay else { return false }
            return period.contains(day) && scope.includes(deal)
        }.sorted { ($0.closedMs, $0.id) > ($1.closedMs, $1.id) }
        let total = Int64(lost.count)
        var response = Crm_Forecast_V1_GetLossAnalysisResponse(period: period.text, lostCount: total)

        var competitors: [String: Crm_Forecast_V1_CompetitorLoss] = [:]
        var competitorOrder: [String] = []
        var reasons: [Int32: Crm_Forecast_V1_ReasonLoss] = [:]
        var stages: [Int32: Crm_Forecast_V1_StageLoss] = [:]
        for deal in lost {
            let amount = deal.currency == currency ? deal.amountCents : 0
            response.lostAmountCents += amount
            let review = deal.lossReview ?? Crm_Opportunities_V1_LossReview()

            let noDecision = review.lostTo == .noDecision
            let name = review.competitor.trimmingCharacters(in: .whitespacesAndNewlines)
            let key = noDecision ? "\u{0}no-decision" : name.lowercased()
            if competitors[key] == nil {
                competitors[key] = Crm_Forecast_V1_CompetitorLoss(competitor: noDecision ? "" : name, noDecision: noDecision)
                competitorOrder.append(key)
            }
            competitors[key]!.count += 1
            competitors[key]!.amountCents += amount

            let reason = review.reason
            reasons[reason.rawValue, default: Crm_Forecast_V1_ReasonLoss(reason: reason)].count += 1
            reasons[reason.rawValue]!.amountCents += amount

            let stage = review.wentWrongStage.isOpenStage ? review.wentWrongStage : deal.closedFromStage
            stages[stage.rawValue, default: Crm_Forecast_V1_StageLoss(stage: stage)].count += 1
            stages[stage.rawValue]!.amountCents += amount

            if includeItems {
                response.items.append(Crm_Forecast_V1_LossItem(
                    opportunityId: deal.id, title: deal.title, ownerId: deal.ownerID, amountCents: deal.amountCents,
                    review: deal.lossReview, lostAtMs: deal.closedMs))
            }
        }
        response.byCompetitor = competitorOrder.map { key in
            var row = competitors[key]!
            row.share = ratio(row.count, total)
            return row
        }.sorted { ($0.count, $1.competitor) > ($1.count, $0.competitor) }
        response.byReason = reasons.values.map { row in
            var row = row
            row.share = ratio(row.count, total)
            return row
        }.sorted { ($0.count, $1.reason.rawValue) > ($1.count, $0.reason.rawValue) }
        response.byStage = stages.values.map { row in
            var row = row
            row.share = ratio(row.count, total)
            return row
        }.sorted { $0.stage.rawValue < $1.stage.rawValue }
        return response
    }
}
