import CRMProto
import Foundation
import GRDB
import RPCCore
import ServiceRuntime

typealias ForecastSettings = Crm_Forecast_V1_ForecastSettings

/// crm-forecast's configuration (R11 model, categories, snapshot schedule, R12 threshold): one
/// versioned row, defaults until an admin changes something.
enum SettingsStore {
    static let defaults = ForecastSettings(
        version: 0, defaultCurrency: "EUR", configuredWeights: Weights.defaults.proto,
        minClosedDealsForFit: 200, holdoutFraction: 0.25, refitEveryMs: 7 * 86_400_000,
        activeModel: nil, commitMinProbability: 0.7, bestCaseMinProbability: 0.4,
        snapshotEveryMs: 7 * 86_400_000, stuckAfterDays: 14, reliabilityBuckets: 10)

    static func load(_ db: Database) throws -> ForecastSettings {
        guard let row = try Row.fetchOne(db, sql: "SELECT body, version FROM settings WHERE id = 1") else { return defaults }
        var settings = try ForecastSettings(serializedBytes: Array(row["body"] as Data))
        settings.version = row["version"]
        return settings
    }

    static func save(_ db: Database, _ settings: ForecastSettings) throws {
        var body = settings
        body.activeModel = nil
        try db.execute(sql: """
            INSERT INTO settings (id, body, version) VALUES (1, ?, ?)
            ON CONFLICT (id) DO UPDATE SET body = excluded.body, version = excluded.version
            """, arguments: [Data(body.serializedBytes()), settings.version])
    }

    /// UpdateSettings: applies the set fields, validating each (INVALID_ARGUMENT names every bad one).
    static func apply(_ request: Crm_Forecast_V1_UpdateSettingsRequest, to current: ForecastSettings) throws -> ForecastSettings {
        var errors = FieldErrors()
        var next = current
        if let currency = request.defaultCurrency {
            if isCurrency(currency) { next.defaultCurrency = currency } else { errors.add("default_currency", "'\(currency)' is not a 3-letter ISO 4217 code") }
        }
        if let weights = request.configuredWeights {
            validateWeights(weights, field: "configured_weights", errors: &errors)
            next.configuredWeights = Weights(proto: weights, fallback: Weights(proto: current.configuredWeights ?? Weights.defaults.proto)).proto
        }
        if let value = request.minClosedDealsForFit {
            if value < 20 { errors.add("min_closed_deals_for_fit", "must be at least 20, got \(value)") } else { next.minClosedDealsForFit = value }
        }
        if let value = request.holdoutFraction {
            if !(value >= 0.05 && value <= 0.5) { errors.add("holdout_fraction", "must be between 0.05 and 0.5, got \(value)") } else { next.holdoutFraction = value }
        }
        if let value = request.refitEveryMs {
            if value < 0 { errors.add("refit_every_ms", "must not be negative") } else { next.refitEveryMs = value }
        }
        if let value = request.commitMinProbability {
            if !(value > 0 && value <= 1) { errors.add("commit_min_probability", "must be in (0, 1], got \(value)") } else { next.commitMinProbability = value }
        }
        if let value = request.bestCaseMinProbability {
            if !(value > 0 && value <= 1) { errors.add("best_case_min_probability", "must be in (0, 1], got \(value)") } else { next.bestCaseMinProbability = value }
        }
        if next.bestCaseMinProbability > next.commitMinProbability {
            errors.add("best_case_min_probability", "must not exceed commit_min_probability (\(next.bestCaseMinProbability) > \(next.commitMinProbability))")
        }
        if let value = request.snapshotEveryMs {
            if value != 0 && value < 3_600_000 { errors.add("snapshot_every_ms", "must be 0 (off) or at least one hour") } else { next.snapshotEveryMs = value }
        }
        if let value = request.stuckAfterDays {
            if !(1...365).contains(value) { errors.add("stuck_after_days", "must be 1..365, got \(value)") } else { next.stuckAfterDays = value }
        }
        if let value = request.reliabilityBuckets {
            if !(2...50).contains(value) { errors.add("reliability_buckets", "must be 2..50, got \(value)") } else { next.reliabilityBuckets = value }
        }
        try errors.throwIfAny()
        return next
    }

    static func validateWeights(_ weights: Crm_Forecast_V1_ModelWeights, field: String, errors: inout FieldErrors) {
        var seen = Set<Int32>()
        for (i, base) in weights.stageBases.enumerated() {
            if !base.stage.isOpenStage {
                errors.add("\(field).stage_bases[\(i)].stage", "must be an open stage (RELATIONSHIP..CONTRACT)")
            } else if !seen.insert(base.stage.rawValue).inserted {
                errors.add("\(field).stage_bases[\(i)].stage", "\(base.stage.protoName) appears twice")
            }
            if !(base.baseProbability > 0 && base.baseProbability < 1) {
                errors.add("\(field).stage_bases[\(i)].base_probability", "must be strictly between 0 and 1, got \(base.baseProbability)")
            }
        }
        let named: [(String, Double)] = [
            ("key_person_confirmed", weights.keyPersonConfirmed), ("quote_given", weights.quoteGiven),
            ("face_to_face_held", weights.faceToFaceHeld), ("days_to_expected_close", weights.daysToExpectedClose),
            ("follow_up_frequency", weights.followUpFrequency), ("open_risks", weights.openRisks),
        ]
        for (name, value) in named where !(value.isFinite && abs(value) <= 20) {
            errors.add("\(field).\(name)", "must be a finite weight within ±20, got \(value)")
        }
    }

    static func isCurrency(_ text: String) -> Bool {
        text.count == 3 && text.unicodeScalars.allSatisfy { $0.value >= 65 && $0.value <= 90 }
    }
}
