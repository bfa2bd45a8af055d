import ServiceRuntime

/// R8: risk is flagged automatically. A pure evaluation of one opportunity against the configured
/// thresholds at an instant; RiskTracker (RiskTracking.swift) persists the result and its history.
struct RiskRules {
    let settings: OpportunitySettings

    /// The opportunity's risk now. Closed deals carry no risk. An active snooze is kept (it hides the
    /// deal from at-risk lists, never the facts); an expired one is dropped.
    func evaluate(_ o: Opportunity, now: Int64) -> Risk {
        var risk = Risk(level: .green, reasons: [], evaluatedAtMs: now, snooze: nil)
        guard o.status == .open else { return risk }
        if let snooze = o.risk?.snooze, snooze.resumeAtMs > now { risk.snooze = snooze }
        let previous = Dictionary((o.risk?.reasons ?? []).map { ($0.kind, $0) }, uniquingKeysWith: { a, _ in a })

        // No follow-up for N days (yellow, then red), counted from the last follow-up or creation.
        let lastTouch = max(o.lastFollowUpAtMs, o.createdAtMs)
        let silentDays = Self.days(from: lastTouch, to: now)
        let yellow = Int64(settings.noFollowUpYellowDays), red = Int64(settings.noFollowUpRedDays)
        if silentDays >= yellow {
            let isRed = silentDays >= red
            let threshold = isRed ? red : yellow
            risk.reasons.append(RiskReason(
                kind: .noFollowUp, level: isRed ? .red : .yellow, sinceMs: lastTouch,
                observedDays: Int32(clamping: silentDays), thresholdDays: Int32(clamping: threshold),
                message: "R8: no follow-up for \(silentDays) days (\(isRed ? "red" : "yellow") at \(threshold))"))
        }

        // Key person missing (never named, or left) -> red at once.
        if o.keyPersonContactId.isEmpty {
            risk.reasons.append(RiskReason(
                kind: .keyPersonMissing, level: .red, sinceMs: previous[.keyPersonMissing]?.sinceMs ?? now,
                message: "R8: key person missing"))
        } else if !o.keyPersonConfirmed {
            // Named but not confirmed, after the configured grace from creation -> red.
            let grace = Int64(settings.keyPersonUnconfirmedRedDays)
            let age = Self.days(from: o.createdAtMs, to: now)
            if age >= grace {
                risk.reasons.append(RiskReason(
                    kind: .keyPersonUnconfirmed, level: .red, sinceMs: o.createdAtMs &+ grace &* Millis.day,
                    observedDays: Int32(clamping: age), thresholdDays: Int32(clamping: grace),
                    message: "R8: key person \(o.keyPersonName.isEmpty ? o.keyPersonContactId : o.keyPersonName) not confirmed after \(age) days (red at \(grace))"))
            }
        }

        // Quote given and no action for N days -> red.
        if o.quoted {
            let quiet = Self.days(from: o.lastActionAtMs, to: now)
            let threshold = Int64(settings.quoteNoActionRedDays)
            if quiet >= threshold {
                risk.reasons.append(RiskReason(
                    kind: .quoteNoAction, level: .red, sinceMs: o.lastActionAtMs,
                    observedDays: Int32(clamping: quiet), thresholdDays: Int32(clamping: threshold),
                    message: "R8: quote given and no action for \(quiet) days (red at \(threshold))"))
            }
        }

        risk.level = risk.reasons.map(\.level).max(by: { $0.rawValue < $1.rawValue }) ?? .green
        return risk
    }

    /// Whole days from `start` to `end` (0 when `end` is not after `start`).
    static func days(from start: Int64, to end: Int64) -> Int64 {
        let (elapsed, overflow) = end.subtractingReportingOverflow(start)
        return overflow || elapsed <= 0 ? 0 : elapsed / Millis.day
    }
}
