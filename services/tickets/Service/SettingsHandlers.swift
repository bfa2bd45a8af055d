import CRMProto
import GRDB
import RPCCore
import ServiceRuntime

/// GetSettings / UpdateSettings: SLA targets per priority, the R9 onboarding template and the sweep
/// interval. Changes apply to tickets opened afterwards (and to a ticket whose priority changes).
extension TicketService {
    func getSettings(_ request: Crm_Tickets_V1_GetSettingsRequest, context: ServerContext) async throws
        -> Crm_Tickets_V1_GetSettingsResponse {
        _ = try Caller(context: context)
        let settings = try await read { db in try SettingsStore.load(db) }
        var answer = settings
        if request.includeDefaults {
            // Spell out the built-in target of any priority the stored list leaves out.
            for target in DefaultSettings.slaTargets where !answer.slaTargets.contains(where: { $0.priority == target.priority }) {
                answer.slaTargets.append(target)
            }
        }
        return Crm_Tickets_V1_GetSettingsResponse(settings: answer)
    }

    func updateSettings(_ request: Crm_Tickets_V1_UpdateSettingsRequest, context: ServerContext) async throws
        -> Crm_Tickets_V1_UpdateSettingsResponse {
        let caller = try Caller(context: context)
        guard caller.role == .admin else {
            throw RPCError(.permissionDenied, "changing ticket settings needs an admin; \(caller.userID) is a \(caller.role.rawValue)")
        }
        try SettingsValidation.validate(request)
        let settings = try await write { db in
            let current = try SettingsStore.load(db)
            guard current.version == request.version else {
                throw RPCError(.aborted, "version: settings are at version \(current.version), not \(request.version); reload and retry")
            }
            let next = SettingsValidation.apply(request, to: current)
            try SettingsStore.save(db, next)
            return next
        }
        return Crm_Tickets_V1_UpdateSettingsResponse(settings: settings)
    }
}
