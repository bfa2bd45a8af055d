import CRMProto
import CRMStore
import Foundation
import GRDB
import Logging
import RPCCore
import ServiceRuntime

/// `crm.forecast.v1.ForecastService`: the results module (line 6; R11, R12). The RPCs live in
/// extensions by concern (targets, probability, forecast and snapshots, analytics, settings, data
/// transfer); this file holds what they share.
struct ForecastServiceHandler: Crm_Forecast_V1_ForecastServiceHandler {
    let store: Store
    let book: DealBook
    let clock: any WallClock
    let peers: Peers
    let sync: OpportunitySync
    let trainer: ModelTrainer
    let scheduler: ForecastScheduler
    let logger: Logger

    /// Settings, the active model and the facts' freshness, read together.
    struct Configuration: Sendable {
        var settings: ForecastSettings
        var model: ScoringModel
        var factsAsOfMs: Int64
    }

    func configuration() async throws -> Configuration {
        try await store.read { db in
            let settings = try SettingsStore.load(db)
            return Configuration(settings: settings, model: try ModelRegistry.active(db, settings: settings),
                                 factsAsOfMs: try SyncState.get(db, "facts_as_of_ms"))
        }
    }

    func engine(_ configuration: Configuration, nowMs: Int64) -> ForecastEngine {
        ForecastEngine(model: configuration.model, settings: configuration.settings, nowMs: nowMs)
    }

    /// The request's currency, or the configured default; INVALID_ARGUMENT when it is not a code.
    func currency(_ requested: String, _ settings: ForecastSettings, errors: inout FieldErrors) -> String {
        let trimmed = requested.trimmingCharacters(in: .whitespaces)
        if trimmed.isEmpty { return settings.defaultCurrency }
        if !SettingsStore.isCurrency(trimmed) { errors.add("currency", "'\(requested)' is not a 3-letter ISO 4217 code") }
        return trimmed
    }

    func requireAdmin(_ caller: Caller, _ action: String) throws {
        guard caller.role == .admin else {
            throw RPCError(.permissionDenied, "\(action) needs an admin; \(caller.userID) is a \(caller.role.rawValue)")
        }
    }
}
