import CRMProto
import Foundation
import GRDB
import ServiceRuntime

/// Configuration of crm-opportunities (R5 junk list and minimum length, R7 big-deal threshold, R8
/// thresholds, sweep period). Stored in the database so every rule reads the value in force inside
/// the same transaction as the write it judges.
enum SettingsStore {
    /// The defaults PRODUCT.md names (3 / 7 / 5 days) and sensible values for the rest.
    static let defaults = OpportunitySettings(
        version: 0,
        noFollowUpYellowDays: 3,
        noFollowUpRedDays: 7,
        quoteNoActionRedDays: 5,
        bigDealThresholdCents: 10_000_000,  // 100,000.00
        bigDealCurrency: "",  // empty: compare the amount whatever the deal's currency
        junkConclusions: [
            "talked, pending", "talked", "pending", "following up", "follow up", "followed up", "will follow up",
            "ok", "okay", "fine", "good", "done", "called", "discussed", "in progress", "no update", "no progress",
            "nothing new", "same as before", "see above", "tbd", "todo", "n/a", "na", "none", "nothing", "test",
            "waiting", "wait", "to be continued",
        ],
        minConclusionLength: 10,
        sweepIntervalMs: 60_000,
        keyPersonUnconfirmedRedDays: 3)

    static func load(_ db: Database) throws -> OpportunitySettings {
        guard let row = try Row.fetchOne(db, sql: "SELECT record FROM settings WHERE id = 1") else { return defaults }
        return try decode(OpportunitySettings.self, row)
    }

    static func save(_ db: Database, _ settings: OpportunitySettings) throws {
        try db.execute(sql: """
            INSERT INTO settings (id, record) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET record = excluded.record
            """, arguments: [Data(settings.serializedBytes())])
    }

    /// Applies the set fields of an update, naming every invalid value.
    static func apply(_ request: Crm_Opportunities_V1_UpdateSettingsRequest, to current: OpportunitySettings) throws
        -> OpportunitySettings {
        var next = current
        var errors = FieldErrors()
        func days(_ field: String, _ value: Int32?, _ assign: (Int32) -> Void) {
            guard let value else { return }
            if !(1...3650).contains(value) { errors.add(field, "must be between 1 and 3650 days, got \(value)") } else { assign(value) }
        }
        days("no_follow_up_yellow_days", request.noFollowUpYellowDays) { next.noFollowUpYellowDays = $0 }
        days("no_follow_up_red_days", request.noFollowUpRedDays) { next.noFollowUpRedDays = $0 }
        days("quote_no_action_red_days", request.quoteNoActionRedDays) { next.quoteNoActionRedDays = $0 }
        if let value = request.keyPersonUnconfirmedRedDays {
            if !(0...3650).contains(value) { errors.add("key_person_unconfirmed_red_days", "must be between 0 and 3650, got \(value)") }
            else { next.keyPersonUnconfirmedRedDays = value }
        }
        if next.noFollowUpYellowDays >= next.noFollowUpRedDays {
            errors.add("no_follow_up_yellow_days", "must be less than no_follow_up_red_days (\(next.noFollowUpYellowDays) >= \(next.noFollowUpRedDays))")
        }
        if let value = request.bigDealThresholdCents {
            if value <= 0 { errors.add("big_deal_threshold_cents", "must be positive") } else { next.bigDealThresholdCents = value }
        }
        if let value = request.bigDealCurrency {
            let code = value.trimmingCharacters(in: .whitespaces).uppercased()
            if !code.isEmpty && !Money.isCurrencyCode(code) { errors.add("big_deal_currency", "not an ISO 4217 code: '\(value)'") }
            else { next.bigDealCurrency = code }
        }
        if let list = request.junkConclusions {
            let cleaned = list.values.map(ConclusionCheck.normalize).filter { !$0.isEmpty }
            if cleaned.count > 1000 { errors.add("junk_conclusions", "at most 1000 entries") } else { next.junkConclusions = cleaned }
        }
        if let value = request.minConclusionLength {
            if !(1...1000).contains(value) { errors.add("min_conclusion_length", "must be between 1 and 1000") } else { next.minConclusionLength = value }
        }
        if let value = request.sweepIntervalMs {
            if !(1000...86_400_000).contains(value) { errors.add("sweep_interval_ms", "must be between 1000 and 86400000") }
            else { next.sweepIntervalMs = value }
        }
        try errors.throwIfAny()
        next.version = current.version + 1
        return next
    }
}
