import CRMProto
import Foundation
import RPCCore
import ServiceRuntime

typealias LeadSource = Crm_Leads_V1_LeadSource

/// Line 1 source ROI: the lead funnel and spend per source come from crm-leads (SourceReport); won
/// and pipeline amounts come from the opportunity facts here. If crm-leads cannot be read, the lead
/// columns stay empty and a warning says so — never a silent gap.
struct SourceRoiReport {
    let period: Period
    let currency: String
    let scope: FigureScope
    let engine: ForecastEngine

    /// Asks crm-leads for the lead side on behalf of `caller` (its own visibility applies there too).
    static func leadSide(peers: Peers, caller: Caller, period: Period, currency: String, scope: FigureScope) async
        -> (rows: [Crm_Leads_V1_SourceReportRow], warning: String?) {
        let client = Crm_Leads_V1_LeadServiceClient(channel: peers.channel("leads"))
        let request = Crm_Leads_V1_SourceReportRequest(
            fromMs: period.startMs, toMs: period.endMs, granularity: .total, teamId: scope.teamID ?? "",
            ownerId: scope.userID ?? "", currency: currency)
        do {
            let response = try await client.sourceReport(request, options: peers.options(for: caller, timeout: .seconds(5)))
            return (response.rows, nil)
        } catch let error as RPCError {
            return ([], "crm-leads: \(error.code)\(error.message.isEmpty ? "" : ": \(error.message)")")
        } catch {
            return ([], "crm-leads: UNAVAILABLE: \(error)")
        }
    }

    func compute(deals: [String: Deal], leadRows: [Crm_Leads_V1_SourceReportRow], warnings: [String])
        -> Crm_Forecast_V1_GetSourceRoiResponse {
        var rows: [Int32: Crm_Forecast_V1_SourceRoiRow] = [:]
        var lost: [Int32: Int64] = [:]
        func row(_ source: Int32) -> Crm_Forecast_V1_SourceRoiRow {
            rows[source] ?? Crm_Forecast_V1_SourceRoiRow(source: LeadSource(rawValue: source))
        }
        for lead in leadRows {
            var r = row(lead.source.rawValue)
            r.leads += lead.leads
            r.activatedWithinDeadline += lead.activatedWithinDeadline
            r.converted += lead.converted
            r.disqualified += lead.disqualified
            r.spendCents += lead.spendCents
            rows[lead.source.rawValue] = r
        }
        for deal in deals.values where scope.includes(deal) && deal.source != 0 {
            var r = row(deal.source)
            if period.contains(ms: deal.createdMs) { r.opportunities += 1 }
            if deal.isOpen, deal.currency == currency {
                r.openPipelineCents += deal.amountCents
                r.weightedPipelineCents += roundedCents(engine.score(deal) * Double(deal.amountCents))
            } else if deal.isWon, let day = deal.wonDay, period.contains(day) {
                r.wonCount += 1
                if deal.currency == currency { r.wonAmountCents += deal.wonAmountCents }
            } else if deal.isLost, let day = deal.closedDay, period.contains(day) {
                lost[deal.source, default: 0] += 1
            }
            rows[deal.source] = r
        }
        var total = Crm_Forecast_V1_SourceRoiRow(source: .unspecified)
        var totalLost: Int64 = 0
        var result: [Crm_Forecast_V1_SourceRoiRow] = []
        for source in rows.keys.sorted() {
            var r = rows[source]!
            finish(&r, lost: lost[source] ?? 0)
            result.append(r)
            total.leads += r.leads
            total.activatedWithinDeadline += r.activatedWithinDeadline
            total.converted += r.converted
            total.disqualified += r.disqualified
            total.opportunities += r.opportunities
            total.wonCount += r.wonCount
            total.wonAmountCents += r.wonAmountCents
            total.openPipelineCents += r.openPipelineCents
            total.weightedPipelineCents += r.weightedPipelineCents
            total.spendCents += r.spendCents
            totalLost += lost[source] ?? 0
        }
        finish(&total, lost: totalLost)
        return Crm_Forecast_V1_GetSourceRoiResponse(period: period.text, currency: currency, rows: result, total: total,
                                                    warnings: warnings)
    }

    private func finish(_ r: inout Crm_Forecast_V1_SourceRoiRow, lost: Int64) {
        r.roi = r.spendCents > 0 ? Double(r.wonAmountCents - r.spendCents) / Double(r.spendCents) : nil
        r.costPerLeadCents = r.leads > 0 ? r.spendCents / r.leads : 0
        r.costPerWinCents = r.wonCount > 0 ? r.spendCents / r.wonCount : 0
        r.conversionRate = ratio(r.converted, r.leads)
        r.winRate = ratio(r.wonCount, r.wonCount + lost)
    }
}
