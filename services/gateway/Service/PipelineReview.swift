import CRMProto
import RPCCore
import ServiceRuntime

/// PipelineReview: the R12 review of a team and period (which deals advanced, which risks appeared,
/// which actions are stuck, which leads were never followed) with completion against target and
/// the forecast (line 6), plus the live at-risk list — crm-forecast and crm-opportunities in parallel.
extension GatewayHandler {
    func pipelineReview(_ request: Crm_Gateway_V1_PipelineReviewRequest, context: ServerContext) async throws
        -> Crm_Gateway_V1_PipelineReviewResponse {
        let principal = try principal(context)
        let caller = try principal.requirePerson("PipelineReview")
        var problems = FieldErrors()
        let teamID = request.teamId.isEmpty ? caller.team : request.teamId
        if teamID.isEmpty { problems.add("team_id", "required (the caller has no team)") }
        if !request.period.isEmpty, !UTCCalendar.isPeriod(request.period) {
            problems.add("period", "expected YYYY-MM, YYYY-Qn or YYYY, got '\(request.period)'")
        }
        if !request.currency.isEmpty, request.currency.count != 3 || !request.currency.allSatisfy({ $0.isASCII && $0.isUppercase }) {
            problems.add("currency", "expected an ISO 4217 code such as EUR, got '\(request.currency)'")
        }
        if request.stuckAfterDays < 0 { problems.add("stuck_after_days", "must not be negative") }
        try problems.throwIfAny()
        if !principal.isAdmin, teamID != caller.team {
            throw RPCError(.permissionDenied, "\(caller.userID) may only review their own team")
        }
        guard try await store.read({ db in try DirectoryRows.fetchTeam(db, id: teamID) }) != nil else {
            throw RPCError(.notFound, "team '\(teamID)' not found")
        }
        let now = clock.nowMs()
        let period = request.period.isEmpty ? UTCCalendar.month(now) : request.period
        let fan = try Fanout(backends: backends, caller: caller, serviceToken: serviceToken, context: context)
        let options = fan.options

        async let reviewSection = fan.section(.forecast, "review") {
            var get = Crm_Forecast_V1_GetReviewRequest()
            get.teamId = teamID
            get.period = period
            get.stuckAfterDays = request.stuckAfterDays
            return try await fan.forecast.getReview(get, options: options).review
        }
        async let completionSection = fan.section(.forecast, "completion") {
            var get = Crm_Forecast_V1_GetCompletionRequest()
            get.teamId = teamID
            get.period = period
            get.breakdown = true
            return try await fan.forecast.getCompletion(get, options: options).rows
        }
        async let forecastSection = fan.section(.forecast, "forecast") {
            var get = Crm_Forecast_V1_GetForecastRequest()
            get.teamId = teamID
            get.period = period
            get.currency = request.currency
            get.groupBy = .user
            get.includeDeals = request.includeDeals
            return try await fan.forecast.getForecast(get, options: options).forecast
        }
        async let riskSection = fan.section(.opportunities, "at_risk") {
            try await Fanout.allPages(maxItems: 500) { token in
                var list = Crm_Opportunities_V1_ListAtRiskRequest()
                list.teamId = teamID
                list.pageSize = 500
                list.pageToken = token
                let page = try await fan.opportunities.listAtRisk(list, options: options)
                return (page.opportunities, page.nextPageToken)
            }
        }

        var errors = SourceErrors()
        var response = Crm_Gateway_V1_PipelineReviewResponse()
        response.teamId = teamID
        response.period = period
        if let review = errors.take(await reviewSection) { response.review = review }
        response.completion = errors.take(await completionSection) ?? []
        if let forecast = errors.take(await forecastSection) { response.forecast = forecast }
        response.atRisk = errors.take(await riskSection) ?? []
        response.errors = errors.errors
        response.complete = errors.complete
        response.generatedAtMs = now
        return response
    }
}
