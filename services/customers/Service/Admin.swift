import CRMProto
import GRDB
import RPCCore
import ServiceRuntime

extension CustomerHandler {
    /// GetSettings: the thresholds every user's lists are computed with.
    func getSettings(_ request: Crm_Customers_V1_GetSettingsRequest, context: ServerContext) async throws
        -> Crm_Customers_V1_GetSettingsResponse {
        _ = try Access.caller(context)
        return Crm_Customers_V1_GetSettingsResponse(settings: try await read { db in try SettingsStore.load(db) })
    }

    /// UpdateSettings (admin): unset fields keep their value; optimistic by version.
    func updateSettings(_ request: Crm_Customers_V1_UpdateSettingsRequest, context: ServerContext) async throws
        -> Crm_Customers_V1_UpdateSettingsResponse {
        let caller = try Access.caller(context)
        try requireAdmin(caller, "changing crm-customers settings")
        let settings = try await write { db -> CustomerSettings in
            let next = try SettingsStore.apply(request, to: try SettingsStore.load(db))
            try SettingsStore.save(db, next)
            return next
        }
        return Crm_Customers_V1_UpdateSettingsResponse(settings: settings)
    }

    /// RunSweep (admin): the churn-risk sweep now, exactly as the periodic background sweep runs it.
    func runSweep(_ request: Crm_Customers_V1_RunSweepRequest, context: ServerContext) async throws
        -> Crm_Customers_V1_RunSweepResponse {
        let caller = try Access.caller(context)
        try requireAdmin(caller, "running the churn sweep")
        let now = clock.nowMs()
        let dryRun = request.dryRun
        let result = try await ChurnSweep.sweep(nowMs: now, dryRun: dryRun) { try await write($0) }
        return Crm_Customers_V1_RunSweepResponse(flaggedCustomerIds: result.flagged, clearedCustomerIds: result.cleared,
                                                 sweptAtMs: now)
    }

    func requireAdmin(_ caller: Caller, _ action: String) throws {
        guard caller.role == .admin else {
            throw RPCError(.permissionDenied, "\(action) needs an admin; \(caller.userID) is a \(caller.role.rawValue)")
        }
    }
}
