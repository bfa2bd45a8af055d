import CRMProto
import Foundation
import GRDB
import RPCCore
import ServiceRuntime

/// Line 6: targets and their completion.
extension ForecastServiceHandler {
    func setTargets(_ request: Crm_Forecast_V1_SetTargetsRequest, context: ServerContext) async throws
        -> Crm_Forecast_V1_SetTargetsResponse {
        let caller = try Caller(context: context)
        guard caller.role != .rep else {
            throw RPCError(.permissionDenied, "setting targets needs a manager or admin; \(caller.userID) is a rep")
        }
        var errors = FieldErrors()
        guard var input = request.targets else { throw RPCError(.invalidArgument, "targets: required") }
        input.period = input.period.trimmingCharacters(in: .whitespaces)
        input.currency = input.currency.trimmingCharacters(in: .whitespaces)
        let proposed = input
        TargetRules.validate(proposed, errors: &errors)
        if request.version < 0 { errors.add("version", "must not be negative") }
        try errors.throwIfAny()

        let mismatches = TargetRules.mismatches(proposed)
        if request.validateOnly {
            return Crm_Forecast_V1_SetTargetsResponse(targets: proposed, mismatches: mismatches)
        }
        if !mismatches.isEmpty {
            // Parts must sum to the whole: name each level that does not, and by how much.
            let fields = mismatches.map { m in
                (m.scope == .company ? "targets.teams" : "targets.teams[\(m.scopeId)].people") + ": " + m.message
            }
            throw RPCError(.invalidArgument, fields.joined(separator: "; "))
        }
        let now = clock.nowMs()
        let saved = try await store.write { db -> TargetSet in
            let stored = try TargetStore.load(db, period: proposed.period)
            let current = stored?.version ?? 0
            guard request.version == current else {
                throw RPCError(.aborted, "version: targets of \(proposed.period) are at version \(current), the request names \(request.version)")
            }
            if caller.role == .manager { try TargetRules.checkManagerChange(caller, stored: stored, proposed: proposed) }
            var next = proposed
            next.version = current + 1
            next.updatedBy = caller.userID
            next.updatedAtMs = now
            try TargetStore.save(db, next)
            return next
        }
        return Crm_Forecast_V1_SetTargetsResponse(targets: TargetRules.visible(saved, to: caller))
    }

    func getTargets(_ request: Crm_Forecast_V1_GetTargetsRequest, context: ServerContext) async throws
        -> Crm_Forecast_V1_GetTargetsResponse {
        let caller = try Caller(context: context)
        var errors = FieldErrors()
        let period = requirePeriod(request.period, nowMs: clock.nowMs(), errors: &errors, defaultToCurrent: false)
        try errors.throwIfAny()
        guard let targets = try await store.read({ db in try TargetStore.load(db, period: period.text) }) else {
            throw RPCError(.notFound, "no targets set for \(period.text)")
        }
        return Crm_Forecast_V1_GetTargetsResponse(targets: TargetRules.visible(targets, to: caller))
    }

    /// Completion = won amount ÷ target, to date, per scope (and below it with `breakdown`).
    func getCompletion(_ request: Crm_Forecast_V1_GetCompletionRequest, context: ServerContext) async throws
        -> Crm_Forecast_V1_GetCompletionResponse {
        let caller = try Caller(context: context)
        let now = clock.nowMs()
        var errors = FieldErrors()
        let period = requirePeriod(request.period, nowMs: now, errors: &errors)
        try errors.throwIfAny()
        let scope = try FigureScope.resolve(caller, teamID: request.teamId, userID: request.userId)
        let (targets, settings) = try await store.read { db in
            (try TargetStore.load(db, period: period.text), try SettingsStore.load(db))
        }
        let currency = targets?.currency ?? settings.defaultCurrency
        let lookup = TargetLookup(targets, currency: currency)

        // Wins of the period in the target currency, per team and person.
        var wonByKey: [RowKey: (cents: Int64, count: Int64)] = [:]
        let headline = RowKey.headline(scope)
        var teams = Set<String>()
        var users = Set<String>()
        for deal in book.all.values where deal.isWon && deal.currency == currency && scope.includes(deal) {
            guard let day = deal.wonDay, period.contains(day) else { continue }
            for key in Set([headline, RowKey(scope: .team, id: deal.teamID), RowKey(scope: .user, id: deal.ownerID)]) {
                wonByKey[key, default: (0, 0)].cents += deal.wonAmountCents
                wonByKey[key, default: (0, 0)].count += 1
            }
            teams.insert(deal.teamID)
            users.insert(deal.ownerID)
        }
        var keys = [headline]
        if request.breakdown {
            for team in targets?.teams ?? [] where scope.userID == nil && (scope.teamID == nil || scope.teamID == team.teamId) {
                teams.insert(team.teamId)
                for person in team.people { users.insert(person.userId) }
            }
            if scope.userID == nil {
                if headline.scope == .company { keys += teams.filter { !$0.isEmpty }.sorted().map { RowKey(scope: .team, id: $0) } }
                let members = scope.teamID == nil ? users : users.filter { user in
                    targets?.teams.first { $0.teamId == scope.teamID }?.people.contains { $0.userId == user } == true
                        || wonByKey[RowKey(scope: .user, id: user)] != nil
                }
                keys += members.filter { !$0.isEmpty }.sorted().map { RowKey(scope: .user, id: $0) }
            }
        }
        let elapsed = period.elapsedFraction(nowMs: now)
        let rows = keys.map { key -> Crm_Forecast_V1_CompletionRow in
            let won = wonByKey[key] ?? (0, 0)
            let target = lookup.amount(for: key)
            return Crm_Forecast_V1_CompletionRow(
                scope: key.scope, scopeId: key.id, currency: currency, targetCents: target ?? 0, hasTarget: target != nil,
                wonCents: won.cents, wonCount: won.count,
                completionRate: (target ?? 0) > 0 ? Double(won.cents) / Double(target!) : 0,
                remainingCents: max(0, (target ?? 0) - won.cents), elapsedFraction: elapsed)
        }
        return Crm_Forecast_V1_GetCompletionResponse(period: period.text, asOfMs: now, rows: rows)
    }
}
