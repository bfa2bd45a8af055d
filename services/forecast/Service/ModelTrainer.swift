import CRMProto
import CRMStore
import Foundation
import GRDB
import Logging
import RPCCore
import ServiceRuntime

/// Fits the R11 model on the organisation's closed deals and adopts it when it beats the configured
/// weights on held-out deals (FitModel, and the automatic refit of the schedule).
struct ModelTrainer: Sendable {
    let store: Store
    let book: DealBook
    let clock: any WallClock
    let logger: Logger

    /// Closed deals with the facts they had when they closed.
    func examples() -> [TrainingExample] {
        book.all.values.compactMap { deal in
            guard !deal.isOpen, let closing = deal.closing, closing.stage.isOpenStage else { return nil }
            return TrainingExample(id: deal.id, inputs: closing.inputs, won: deal.isWon)
        }
    }

    func fit(adopt: Bool, holdoutFraction requested: Double, seed: Int64) async throws -> Crm_Forecast_V1_FitModelResponse {
        let settings = try await store.read { db in try SettingsStore.load(db) }
        let holdoutFraction = requested == 0 ? settings.holdoutFraction : requested
        let examples = self.examples()
        let minimum = Int(settings.minClosedDealsForFit)
        guard examples.count >= minimum else {
            throw ruleViolation("R11", "fitting needs at least \(minimum) closed deals with their facts (min_closed_deals_for_fit); \(examples.count) exist")
        }
        let configured = Weights(proto: settings.configuredWeights ?? Weights.defaults.proto)
        let (training, holdout) = LogisticFit.split(examples, holdoutFraction: holdoutFraction, seed: UInt64(bitPattern: seed))
        let fitted = LogisticFit.fit(training, prior: configured)
        let configuredBrier = LogisticFit.brier(holdout, configured)
        let fittedBrier = LogisticFit.brier(holdout, fitted)
        let now = clock.nowMs()
        let info = Crm_Forecast_V1_ModelInfo(
            kind: .fittedLogistic, version: "fitted-\(now)-\(examples.count)", fittedAtMs: now,
            trainingDeals: Int64(training.count), holdoutBrier: fittedBrier)
        let adopted = adopt && fitted.isFinite && fittedBrier < configuredBrier
        let active = try await store.write { db -> Crm_Forecast_V1_ModelInfo in
            try ModelRegistry.record(db, info: info, weights: fitted, adopt: adopted)
            return try ModelRegistry.active(db, settings: settings).info
        }
        logger.info("R11 model fitted", metadata: [
            "version": "\(info.version)", "training": "\(training.count)", "holdout": "\(holdout.count)",
            "configured_brier": "\(configuredBrier)", "fitted_brier": "\(fittedBrier)", "adopted": "\(adopted)",
        ])
        return Crm_Forecast_V1_FitModelResponse(
            fitted: info, weights: fitted.proto, trainingDeals: Int64(training.count), holdoutDeals: Int64(holdout.count),
            configuredBrier: configuredBrier, fittedBrier: fittedBrier, adopted: adopted, activeModel: active)
    }
}
