import CRMProto
import Foundation
import GRDB
import RPCCore
import ServiceRuntime

/// Results module analytics: funnel and KPIs, loss analysis (R10), lead-source ROI, review (R12).
extension ForecastServiceHandler {
    func getFunnel(_ request: Crm_Forecast_V1_GetFunnelRequest, context: ServerContext) async throws
        -> Crm_Forecast_V1_GetFunnelResponse {
        let caller = try Caller(context: context)
        let now = clock.nowMs()
        let configuration = try await configuration()
        var errors = FieldErrors()
        let period = requirePeriod(request.period, nowMs: now, errors: &errors)
        let currency = currency(request.currency, configuration.settings, errors: &errors)
        try errors.throwIfAny()
        let scope = try FigureScope.resolve(caller, teamID: request.teamId, userID: request.userId)
        let (moves, followUps) = try await store.read { db in
            (try History.stageMoves(db, fromMs: period.startMs, toMs: period.endMs),
             try History.followUps(db, fromMs: period.startMs, toMs: period.endMs))
        }
        var response = FunnelReport(period: period, currency: currency, scope: scope, nowMs: now)
            .compute(deals: book.all, moves: moves, followUps: followUps, includeReps: request.includeReps)
        response.dataAsOfMs = configuration.factsAsOfMs
        return response
    }

    func getLossAnalysis(_ request: Crm_Forecast_V1_GetLossAnalysisRequest, context: ServerContext) async throws
        -> Crm_Forecast_V1_GetLossAnalysisResponse {
        let caller = try Caller(context: context)
        let now = clock.nowMs()
        let configuration = try await configuration()
        var errors = FieldErrors()
        let period = requirePeriod(request.period, nowMs: now, errors: &errors)
        let currency = currency(request.currency, configuration.settings, errors: &errors)
        try errors.throwIfAny()
        let scope = try FigureScope.resolve(caller, teamID: request.teamId, userID: request.userId)
        return LossAnalysis(period: period, currency: currency, scope: scope)
            .compute(deals: book.all, includeItems: request.includeItems)
    }

    func getSourceRoi(_ request: Crm_Forecast_V1_GetSourceRoiRequest, context: ServerContext) async throws
        -> Crm_Forecast_V1_GetSourceRoiResponse {
        let caller = try Caller(context: context)
        let now = clock.nowMs()
        let configuration = try await configuration()
        var errors = FieldErrors()
        let period = requirePeriod(request.period, nowMs: now, errors: &errors)
        let currency = currency(request.currency, configuration.settings, errors: &errors)
        try errors.throwIfAny()
        let scope = try FigureScope.resolve(caller, teamID: request.teamId, userID: "")
        let lead = await SourceRoiReport.leadSide(peers: peers, caller: caller, period: period, currency: currency, scope: scope)
        return SourceRoiReport(period: period, currency: currency, scope: scope, engine: engine(configuration, nowMs: now))
            .compute(deals: book.all, leadRows: lead.rows, warnings: lead.warning.map { [$0] } ?? [])
    }

    func getReview(_ request: Crm_Forecast_V1_GetReviewRequest, context: ServerContext) async throws
        -> Crm_Forecast_V1_GetReviewResponse {
        let caller = try Caller(context: context)
        let now = clock.nowMs()
        let configuration = try await configuration()
        var errors = FieldErrors()
        let period = requirePeriod(request.period, nowMs: now, errors: &errors)
        if request.stuckAfterDays < 0 || request.stuckAfterDays > 365 {
            errors.add("stuck_after_days", "must be 0 (configured) or 1..365, got \(request.stuckAfterDays)")
        }
        try errors.throwIfAny()
        let scope = try FigureScope.resolve(caller, teamID: request.teamId, userID: request.userId)
        let stuckAfter = Int(request.stuckAfterDays > 0 ? request.stuckAfterDays : configuration.settings.stuckAfterDays)
        let deals = book.all
        let review = try await store.read { db in
            try ReviewReport(period: period, scope: scope, nowMs: now, stuckAfterDays: stuckAfter).compute(db, deals: deals)
        }
        return Crm_Forecast_V1_GetReviewResponse(review: review)
    }
}
