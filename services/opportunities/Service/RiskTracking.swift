import CRMProto
import GRDB

/// Applies an R8 evaluation to a stored opportunity: keeps the flag history (raised / cleared, for
/// R12 "which risks were identified") and emits RISK_CHANGED when the level or the set of causes
/// changes. Called by every write of an opportunity and by the sweep.
enum RiskTracker {
    struct Outcome {
        let from: RiskLevel
        let to: RiskLevel
        /// Anything in the stored evaluation changed (level, causes, observed figures, snooze).
        let changed: Bool
    }

    @discardableResult
    static func reevaluate(_ o: inout Opportunity, settings: OpportunitySettings, _ c: WriteContext) throws -> Outcome {
        let old = o.risk ?? Risk()
        let new = RiskRules(settings: settings).evaluate(o, now: c.now)
        let openFlags = try Row.fetchAll(c.db, sql: """
            SELECT kind, level FROM risk_flags WHERE opportunity_id = ? AND cleared_at_ms = 0
            """, arguments: [o.id]).reduce(into: [RiskKind: RiskLevel]()) { flags, row in
            flags[RiskKind(rawValue: row["kind"])] = RiskLevel(rawValue: row["level"])
        }
        let current = Dictionary(new.reasons.map { ($0.kind, $0.level) }, uniquingKeysWith: { a, _ in a })

        var raised: [RiskKind] = [], cleared: [RiskKind] = []
        for (kind, level) in openFlags where current[kind] != level {
            try c.db.execute(sql: """
                UPDATE risk_flags SET cleared_at_ms = ? WHERE opportunity_id = ? AND kind = ? AND cleared_at_ms = 0
                """, arguments: [c.now, o.id, kind.rawValue])
            if current[kind] == nil { cleared.append(kind) }
        }
        for reason in new.reasons where openFlags[reason.kind] != reason.level {
            try c.db.execute(sql: """
                INSERT INTO risk_flags (opportunity_id, kind, level, raised_at_ms) VALUES (?, ?, ?, ?)
                """, arguments: [o.id, reason.kind.rawValue, reason.level.rawValue, c.now])
            raised.append(reason.kind)
        }

        let fromLevel = old.level == .unspecified ? RiskLevel.green : old.level
        var comparableOld = old, comparableNew = new
        comparableOld.evaluatedAtMs = 0
        comparableNew.evaluatedAtMs = 0
        o.risk = new
        if fromLevel != new.level || !raised.isEmpty || !cleared.isEmpty {
            var event = EventOutbox.about(o, kind: .riskChanged, c)
            event.riskChanged = Crm_Events_V1_RiskChangedPayload(
                fromLevel: fromLevel, toLevel: new.level, reasons: new.reasons,
                raised: raised.sorted(by: { $0.rawValue < $1.rawValue }),
                cleared: cleared.sorted(by: { $0.rawValue < $1.rawValue }), ownerId: o.ownerId)
            try EventOutbox.enqueue(event, c)
        }
        return Outcome(from: fromLevel, to: new.level, changed: comparableOld != comparableNew)
    }
}
