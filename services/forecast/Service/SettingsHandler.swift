import CRMProto
import Foundation
import GRDB
import RPCCore
import ServiceRuntime

/// Configuration: R11 weights and fitting, categories, snapshot schedule, R12 threshold.
extension ForecastServiceHandler {
    func getSettings(_ request: Crm_Forecast_V1_GetSettingsRequest, context: ServerContext) async throws
        -> Crm_Forecast_V1_GetSettingsResponse {
        _ = try Caller(context: context)
        let configuration = try await configuration()
        var settings = configuration.settings
        settings.activeModel = configuration.model.info
        return Crm_Forecast_V1_GetSettingsResponse(settings: settings)
    }

    func updateSettings(_ request: Crm_Forecast_V1_UpdateSettingsRequest, context: ServerContext) async throws
        -> Crm_Forecast_V1_UpdateSettingsResponse {
        let caller = try Caller(context: context)
        try requireAdmin(caller, "UpdateSettings")
        let saved = try await store.write { db -> ForecastSettings in
            let current = try SettingsStore.load(db)
            guard request.version == current.version else {
                throw RPCError(.aborted, "version: settings are at version \(current.version), the request names \(request.version)")
            }
            var next = try SettingsStore.apply(request, to: current)
            next.version = current.version + 1
            try SettingsStore.save(db, next)
            next.activeModel = try ModelRegistry.active(db, settings: next).info
            return next
        }
        return Crm_Forecast_V1_UpdateSettingsResponse(settings: saved)
    }
}
