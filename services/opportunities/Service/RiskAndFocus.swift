import CRMProto
import GRDB
import RPCCore
import ServiceRuntime

extension OpportunityService {
    /// R8: open opportunities flagged at least `min_level` (default yellow) with their reasons, red
    /// first, then the longest at risk. Snoozed ones only with include_snoozed.
    public func listAtRisk(_ request: Crm_Opportunities_V1_ListAtRiskRequest, context: ServerContext) async throws
        -> Crm_Opportunities_V1_ListAtRiskResponse {
        try await guarded {
            let caller = try Access.user(context)
            let pageSize = try PageToken.pageSize(request.pageSize)
            let minLevel: RiskLevel
            switch request.minLevel {
            case .unspecified, .green: minLevel = .yellow
            case .unrecognized(let n): throw RPCError(.invalidArgument, "min_level: unknown risk level \(n)")
            default: minLevel = request.minLevel
            }
            let cursor = try PageToken.decode(request.pageToken, parts: 3).map { parts -> (Int32, Int64, String) in
                guard let level = Int32(parts[0]), let since = Int64(parts[1]) else {
                    throw RPCError(.invalidArgument, "page_token: malformed")
                }
                return (level, since, parts[2])
            }
            let scope = try Scope.resolve(owner: request.ownerId, team: request.teamId, caller: caller,
                                          what: "opportunities at risk", defaultToCaller: false)
            let now = clock.nowMs()
            return try await store.read { db in
                var conditions = Conditions()
                conditions.add("o.status = ?", [OpportunityStatus.open.rawValue])
                conditions.add("o.risk_level >= ?", [minLevel.rawValue])
                conditions.add(Access.visibilityCondition(caller, alias: "o"))
                scope.apply(to: &conditions, alias: "o")
                if !request.includeSnoozed { conditions.add("o.snoozed_until_ms <= ?", [now]) }
                if let (level, since, id) = cursor {
                    conditions.add("""
                        (o.risk_level < ? OR (o.risk_level = ? AND (o.risk_since_ms > ? OR (o.risk_since_ms = ? AND o.id > ?))))
                        """, [level, level, since, since, id])
                }
                let found = try OpportunityTable.fetchAll(db, sql: """
                    SELECT o.record FROM opportunities o WHERE \(conditions.sql)
                    ORDER BY o.risk_level DESC, o.risk_since_ms, o.id LIMIT ?
                    """, arguments: conditions.arguments + [pageSize + 1])
                let page = found.prefix(pageSize).map { OpportunityWrite.presented($0, now: now) }
                let next = found.count > pageSize ? page.last.map { o -> String in
                    let risk = o.risk ?? Risk()
                    return PageToken.encode([String(risk.level.rawValue), String(risk.reasons.map(\.sinceMs).min() ?? 0), o.id])
                } : nil
                return .init(opportunities: Array(page), nextPageToken: next ?? "")
            }
        }
    }

    /// R8: accept a stall for a known reason until `resume_at_ms` — visible on the record, expiring by
    /// itself; `clear` ends it now.
    public func snoozeRisk(_ request: Crm_Opportunities_V1_SnoozeRiskRequest, context: ServerContext) async throws
        -> Crm_Opportunities_V1_SnoozeRiskResponse {
        try await guarded {
            let caller = try Access.user(context)
            let now = clock.nowMs()
            var errors = FieldErrors()
            errors.require("opportunity_id", request.opportunityId)
            if request.version <= 0 { errors.add("version", "required (the version this change applies to)") }
            if !request.clear {
                errors.require("reason", request.reason)
                errors.maxLength("reason", request.reason, 2000)
                if request.resumeAtMs <= now {
                    errors.add("resume_at_ms", request.resumeAtMs == 0 ? "required (when the risk watch resumes)" : "must be in the future")
                } else if request.resumeAtMs &- now > Self.maxSnoozeMs {
                    errors.add("resume_at_ms", "at most 90 days ahead")
                }
            }
            try errors.throwIfAny()
            let o = try await store.write { db -> Opportunity in
                let c = writeContext(db, now: now, caller: caller)
                var o = try Access.visibleOpportunity(db, id: request.opportunityId, caller: caller)
                try Access.requireVersion(request.version, current: o.version, of: "opportunity \(o.id)")
                try Self.requireOpen(o)
                var risk = o.risk ?? Risk()
                if request.clear {
                    risk.snooze = nil
                } else {
                    risk.snooze = RiskSnooze(reason: request.reason.trimmed, resumeAtMs: request.resumeAtMs,
                                             snoozedBy: caller.userID, snoozedAtMs: now)
                }
                o.risk = risk
                try OpportunityWrite.commit(&o, settings: try SettingsStore.load(db), c)
                return o
            }
            relay?.wake()
            return .init(opportunity: OpportunityWrite.presented(o, now: now))
        }
    }

    static let maxSnoozeMs: Int64 = 90 * Millis.day

    /// R7 / line 5: an owner's open big deals, deals expected to close this month, and deals at risk
    /// (not snoozed) — the sales side of the morning list — biggest first.
    public func listFocus(_ request: Crm_Opportunities_V1_ListFocusRequest, context: ServerContext) async throws
        -> Crm_Opportunities_V1_ListFocusResponse {
        try await guarded {
            let caller = try Access.user(context)
            let pageSize = try PageToken.pageSize(request.pageSize)
            let now = clock.nowMs()
            var errors = FieldErrors()
            var month = CivilDate(utcDayOf: now).firstOfMonth
            if !request.month.isBlank {
                if let parsed = CivilDate(parsing: request.month.trimmed + "-01") { month = parsed } else {
                    errors.add("month", "not a month (YYYY-MM): '\(request.month)'")
                }
            }
            if request.bigDealThresholdCents < 0 { errors.add("big_deal_threshold_cents", "must not be negative") }
            try errors.throwIfAny()
            let cursor = try PageToken.decode(request.pageToken, parts: 2).map { parts -> (Int64, String) in
                guard let amount = Int64(parts[0]) else { throw RPCError(.invalidArgument, "page_token: malformed") }
                return (amount, parts[1])
            }
            let scope = try Scope.resolve(owner: request.ownerId, team: "", caller: caller, what: "focus deals",
                                          defaultToCaller: true)
            let monthFirst = month.description, monthLast = month.lastOfMonth.description
            return try await store.read { db in
                let settings = try SettingsStore.load(db)
                let threshold = request.bigDealThresholdCents > 0 ? request.bigDealThresholdCents : settings.bigDealThresholdCents
                let currency = settings.bigDealCurrency
                var conditions = Conditions()
                conditions.add("o.status = ?", [OpportunityStatus.open.rawValue])
                conditions.add(Access.visibilityCondition(caller, alias: "o"))
                scope.apply(to: &conditions, alias: "o")
                conditions.add("""
                    ((o.amount_cents >= ? AND (? = '' OR o.currency = ?)) OR (o.close_date BETWEEN ? AND ?)
                     OR (o.risk_level >= ? AND o.snoozed_until_ms <= ?))
                    """, [threshold, currency, currency, monthFirst, monthLast, RiskLevel.yellow.rawValue, now])
                if let (amount, id) = cursor {
                    conditions.add("(o.amount_cents < ? OR (o.amount_cents = ? AND o.id > ?))", [amount, amount, id])
                }
                let found = try OpportunityTable.fetchAll(db, sql: """
                    SELECT o.record FROM opportunities o WHERE \(conditions.sql)
                    ORDER BY o.amount_cents DESC, o.id LIMIT ?
                    """, arguments: conditions.arguments + [pageSize + 1])
                let items = found.prefix(pageSize).map { o -> Crm_Opportunities_V1_FocusOpportunity in
                    let shown = OpportunityWrite.presented(o, now: now)
                    var reasons: [Crm_Opportunities_V1_FocusReason] = []
                    if o.amountCents >= threshold && (currency.isEmpty || o.currency == currency) { reasons.append(.bigDeal) }
                    if (monthFirst...monthLast).contains(o.expectedCloseDate) { reasons.append(.closingThisMonth) }
                    if let risk = shown.risk, risk.level.rawValue >= RiskLevel.yellow.rawValue, risk.snooze == nil {
                        reasons.append(.atRisk)
                    }
                    return .init(opportunity: shown, reasons: reasons)
                }
                let next = found.count > pageSize ? items.last?.opportunity.map { PageToken.encode([String($0.amountCents), $0.id]) } : nil
                return .init(opportunities: items, nextPageToken: next ?? "")
            }
        }
    }
}
