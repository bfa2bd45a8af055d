import CRMProto
import Foundation
import GRDB

/// Which probability model is in use (R11): the configured weights, or the latest fitted model that
/// was adopted because it beat the configured weights on held-out deals. Fitted models are kept
/// (one row each) so the response can name the exact version that produced a figure.
enum ModelRegistry {
    static func configuredInfo(_ settings: ForecastSettings) -> Crm_Forecast_V1_ModelInfo {
        Crm_Forecast_V1_ModelInfo(kind: .configuredWeights, version: "configured-v\(settings.version)")
    }

    /// The model that scores now.
    static func active(_ db: Database, settings: ForecastSettings) throws -> ScoringModel {
        if let row = try Row.fetchOne(db, sql: """
            SELECT id, fitted_ms, training_deals, holdout_brier, weights FROM model WHERE active = 1
            ORDER BY fitted_ms DESC LIMIT 1
            """) {
            let weights = try Crm_Forecast_V1_ModelWeights(serializedBytes: Array(row["weights"] as Data))
            return ScoringModel(weights: Weights(proto: weights), info: Crm_Forecast_V1_ModelInfo(
                kind: .fittedLogistic, version: row["id"], fittedAtMs: row["fitted_ms"],
                trainingDeals: row["training_deals"], holdoutBrier: row["holdout_brier"]))
        }
        return ScoringModel(weights: Weights(proto: settings.configuredWeights ?? Weights.defaults.proto),
                            info: configuredInfo(settings))
    }

    /// Stores a fitted model; `adopt` makes it the only active one.
    static func record(_ db: Database, info: Crm_Forecast_V1_ModelInfo, weights: Weights, adopt: Bool) throws {
        if adopt { try db.execute(sql: "UPDATE model SET active = 0 WHERE active = 1") }
        try db.execute(sql: """
            INSERT OR REPLACE INTO model (id, fitted_ms, training_deals, holdout_brier, weights, active)
            VALUES (?, ?, ?, ?, ?, ?)
            """, arguments: [info.version, info.fittedAtMs, info.trainingDeals, info.holdoutBrier,
                             Data(weights.proto.serializedBytes()), adopt ? 1 : 0])
    }

    static func lastFitMs(_ db: Database) throws -> Int64 {
        try Int64.fetchOne(db, sql: "SELECT MAX(fitted_ms) FROM model") ?? 0
    }
}
