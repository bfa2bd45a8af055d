import CRMProto
import Foundation
import GRDB
import RPCCore
import ServiceRuntime

/// Line 6 / R11: the forecast, its snapshots and their accuracy.
extension ForecastServiceHandler {
    func getForecast(_ request: Crm_Forecast_V1_GetForecastRequest, context: ServerContext) async throws
        -> Crm_Forecast_V1_GetForecastResponse {
        let caller = try Caller(context: context)
        let now = clock.nowMs()
        let configuration = try await configuration()
        var errors = FieldErrors()
        let period = requirePeriod(request.period, nowMs: now, errors: &errors)
        let currency = currency(request.currency, configuration.settings, errors: &errors)
        if case .unrecognized(let n) = request.groupBy { errors.add("group_by", "unknown value \(n)") }
        for category in request.categories where !ForecastCategory.allCases.contains(category) || category == .unspecified {
            errors.add("categories", "unknown category \(category.protoName)")
        }
        try errors.throwIfAny()
        let scope = try FigureScope.resolve(caller, teamID: request.teamId, userID: request.userId)
        let targets = try await store.read { db in try TargetStore.load(db, period: period.text) }

        let started = ContinuousClock.now
        let engine = engine(configuration, nowMs: now)
        let (deals, index) = book.snapshot
        let (scored, otherCurrency) = engine.dealsOf(index, period: period, currency: currency, scope: scope)
        let names = index.names
        let headline = RowKey.headline(scope)
        var levels = [headline]
        switch request.groupBy {
        case .team where headline.scope == .company:
            levels += Set(scored.map(\.team)).map { names[$0] }.sorted().map { RowKey(scope: .team, id: $0) }
        case .user where headline.scope != .user:
            levels += Set(scored.map(\.owner)).map { names[$0] }.sorted().map { RowKey(scope: .user, id: $0) }
        default:
            break
        }
        var result = Crm_Forecast_V1_ForecastResult(
            period: period.text, currency: currency, computedAtMs: now, model: configuration.model.info,
            rows: ForecastEngine.rows(scored, levels: levels, names: names, targets: TargetLookup(targets, currency: currency)),
            otherCurrencyDeals: Int64(otherCurrency), dataAsOfMs: configuration.factsAsOfMs)
        if request.includeDeals {
            // `categories` narrows the list of deals; the rows always cover every category.
            let wanted = Set(request.categories.map(\.rawValue))
            result.deals = scored
                .filter { wanted.isEmpty || wanted.contains($0.category.rawValue) }
                .map { (deal: $0, id: index.ids[$0.slot]) }
                .sorted { ($0.deal.weighted, $1.id) > ($1.deal.weighted, $0.id) }
                .map { Self.forecastDeal($0.deal, id: $0.id, index: index, deals[$0.id]) }
        }
        // Service time of the computation, for benchmarks and operators (the log has the call's total).
        let elapsed = ContinuousClock.now - started
        let micros = elapsed.components.seconds * 1_000_000 + elapsed.components.attoseconds / 1_000_000_000_000
        context.addTrailingMetadata("x-crm-compute-us", .string(String(micros)))
        return Crm_Forecast_V1_GetForecastResponse(forecast: result)
    }

    static func forecastDeal(_ scored: ScoredDeal, id: String, index: DealIndex, _ deal: Deal?) -> Crm_Forecast_V1_ForecastDeal {
        Crm_Forecast_V1_ForecastDeal(
            opportunityId: id, title: deal?.title ?? "", customerId: deal?.customerID ?? "",
            customerName: deal?.customerName ?? "", ownerId: index.names[scored.owner], teamId: index.names[scored.team],
            stage: scored.stage, amountCents: scored.amountCents, probability: scored.probability,
            weightedCents: roundedCents(scored.weighted), category: scored.category,
            expectedCloseDate: deal?.expectedCloseDate ?? "", riskLevel: deal?.riskLevel ?? .unspecified)
    }

    func takeSnapshot(_ request: Crm_Forecast_V1_TakeSnapshotRequest, context: ServerContext) async throws
        -> Crm_Forecast_V1_TakeSnapshotResponse {
        let caller = try Caller(context: context)
        try caller.requireManager("TakeSnapshot")
        let now = clock.nowMs()
        let configuration = try await configuration()
        var errors = FieldErrors()
        let period = requirePeriod(request.period, nowMs: now, errors: &errors)
        let currency = currency(request.currency, configuration.settings, errors: &errors)
        errors.maxLength("label", request.label, 200)
        errors.maxLength("request_id", request.requestId, 200)
        try errors.throwIfAny()
        let targets = try await store.read { db in try TargetStore.load(db, period: period.text) }
        let snapshot = SnapshotBuilder.build(
            engine: engine(configuration, nowMs: now), index: book.index, period: period, currency: currency,
            targets: targets, trigger: .onDemand, label: request.label)
        let (response, replayed) = try await store.write { db in
            try Idempotency.run(db, scope: "TakeSnapshot", requestID: request.requestId, request: request, nowMs: now) {
                try SnapshotStore.save(db, snapshot)
                return Crm_Forecast_V1_TakeSnapshotResponse(snapshot: SnapshotStore.visible(snapshot, scope: .company, includeDeals: false))
            }
        }
        var answer = response
        answer.replayed = replayed
        return answer
    }

    func listSnapshots(_ request: Crm_Forecast_V1_ListSnapshotsRequest, context: ServerContext) async throws
        -> Crm_Forecast_V1_ListSnapshotsResponse {
        let caller = try Caller(context: context)
        var errors = FieldErrors()
        let period = requirePeriod(request.period, nowMs: clock.nowMs(), errors: &errors)
        try errors.throwIfAny()
        let size = try PageToken.pageSize(request.pageSize, default: 20, max: 100)
        let cursor = try PageToken.decode(request.pageToken, parts: 3)
        if let cursor, cursor[0] != period.text || Int64(cursor[1]) == nil {
            throw RPCError(.invalidArgument, "page_token: not a token of this listing")
        }
        let after = cursor.map { (Int64($0[1])!, $0[2]) }
        let page = try await store.read { db in try SnapshotStore.page(db, period: period.text, after: after, limit: size + 1) }
        let scope = try FigureScope.resolve(caller, teamID: "", userID: "")
        var response = Crm_Forecast_V1_ListSnapshotsResponse(
            snapshots: page.prefix(size).map { SnapshotStore.visible($0, scope: scope, includeDeals: request.includeDeals) })
        if page.count > size, let last = response.snapshots.last {
            response.nextPageToken = PageToken.encode([period.text, String(last.takenAtMs), last.id])
        }
        return response
    }

    func getAccuracy(_ request: Crm_Forecast_V1_GetAccuracyRequest, context: ServerContext) async throws
        -> Crm_Forecast_V1_GetAccuracyResponse {
        let caller = try Caller(context: context)
        let now = clock.nowMs()
        let configuration = try await configuration()
        var errors = FieldErrors()
        let period = requirePeriod(request.period, nowMs: now, errors: &errors)
        let currency = currency(request.currency, configuration.settings, errors: &errors)
        if request.bucketCount != 0, !(2...50).contains(request.bucketCount) {
            errors.add("bucket_count", "must be 0 (configured) or 2..50, got \(request.bucketCount)")
        }
        try errors.throwIfAny()
        let scope = try FigureScope.resolve(caller, teamID: request.teamId, userID: request.userId)
        let snapshots = try await store.read { db in try SnapshotStore.ofPeriod(db, period: period.text, currency: currency) }
        let buckets = Int(request.bucketCount != 0 ? request.bucketCount : configuration.settings.reliabilityBuckets)
        return AccuracyReport(period: period, currency: currency, scope: scope, nowMs: now, buckets: max(buckets, 2))
            .compute(snapshots: snapshots, deals: book.all)
    }
}
