import CRMProto
import GRDB
import RPCCore
import ServiceRuntime

/// Configuration RPCs: assignment rules (manager/admin) and settings (admin), both optimistic by version.
extension LeadHandler {
    public func listAssignmentRules(_ request: Crm_Leads_V1_ListAssignmentRulesRequest, context: ServerContext)
        async throws -> Crm_Leads_V1_ListAssignmentRulesResponse {
        try await guarded {
            _ = try caller(context)
            let (rules, version) = try await store.read { db in try AssignmentRules.load(db) }
            return Crm_Leads_V1_ListAssignmentRulesResponse(
                rules: request.includeDisabled ? rules : rules.filter(\.enabled), version: version)
        }
    }

    public func setAssignmentRules(_ request: Crm_Leads_V1_SetAssignmentRulesRequest, context: ServerContext)
        async throws -> Crm_Leads_V1_SetAssignmentRulesResponse {
        try await guarded {
            let caller = try caller(context)
            try caller.requireManager("changing assignment rules")
            try Self.requireVersion(request.version)
            let now = clock.nowMs()
            let rules = try AssignmentRules.validate(request.rules, nowMs: now)
            return try await store.write { db in
                let current = try AssignmentRules.load(db).version
                guard current == request.version else {
                    throw RPCError(.aborted, "version: the assignment rules are at version \(current), not \(request.version)")
                }
                try AssignmentRules.replace(db, with: rules, version: current + 1)
                return Crm_Leads_V1_SetAssignmentRulesResponse(rules: rules, version: current + 1)
            }
        }
    }

    public func getSettings(_ request: Crm_Leads_V1_GetSettingsRequest, context: ServerContext) async throws
        -> Crm_Leads_V1_GetSettingsResponse {
        try await guarded {
            _ = try caller(context)
            let settings = try await store.read { db in try LeadSettingsValues.load(db) }
            return Crm_Leads_V1_GetSettingsResponse(settings: settings.proto)
        }
    }

    public func updateSettings(_ request: Crm_Leads_V1_UpdateSettingsRequest, context: ServerContext) async throws
        -> Crm_Leads_V1_UpdateSettingsResponse {
        try await guarded {
            let caller = try caller(context)
            guard caller.role == .admin else {
                throw RPCError(.permissionDenied, "changing crm-leads settings needs an admin; \(caller.userID) is a \(caller.role.rawValue)")
            }
            try Self.requireVersion(request.version)
            return try await store.write { db in
                let current = try LeadSettingsValues.load(db)
                guard current.version == request.version else {
                    throw RPCError(.aborted, "version: the settings are at version \(current.version), not \(request.version)")
                }
                var next = try current.applying(request)
                next.version = current.version + 1
                try next.save(db)
                return Crm_Leads_V1_UpdateSettingsResponse(settings: next.proto)
            }
        }
    }
}
