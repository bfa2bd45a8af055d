import CRMProto
import Foundation
import GRDB
import RPCCore
import ServiceRuntime

/// Qualification: a lead can be closed as disqualified with a reason and a note; it is kept and
/// counted per source and reason in SourceReport (line 1: every lead's fate is traceable).
extension LeadHandler {
    public func disqualifyLead(_ request: Crm_Leads_V1_DisqualifyLeadRequest, context: ServerContext) async throws
        -> Crm_Leads_V1_DisqualifyLeadResponse {
        try await guarded {
            let caller = try caller(context)
            var errors = FieldErrors()
            if request.leadId.isEmpty { errors.add("lead_id", "required") }
            if request.version <= 0 { errors.add("version", "required (the version this change is based on)") }
            switch request.reason {
            case .unspecified: errors.add("reason", "required")
            case .unrecognized(let n): errors.add("reason", "unknown value \(n)")
            default: break
            }
            let note = errors.require("note", request.note)
            errors.maxLength("note", note, 2000)
            try errors.throwIfAny()
            let now = clock.nowMs()
            let response = try await store.write { db -> Crm_Leads_V1_DisqualifyLeadResponse in
                let settings = try LeadSettingsValues.load(db)
                var lead = try Self.visibleLead(db, id: request.leadId, caller: caller)
                guard LeadVisibility.canManage(caller, lead) else {
                    throw RPCError(.permissionDenied, "only the owner, a manager of the team or an admin disqualifies lead \(lead.id)")
                }
                guard [.pool, .assigned, .activated].contains(lead.leadStatus) else {
                    throw RPCError(.failedPrecondition, "lead \(lead.id) is \(lead.leadStatus.protoName) and cannot be disqualified")
                }
                try Self.checkVersion(lead, request.version)
                lead.status = Crm_Leads_V1_LeadStatus.disqualified.rawValue
                lead.disqualifyReason = request.reason.rawValue
                lead.disqualifyNote = note
                lead.closedAtMs = now
                try lead.saveChange(db, now: now)
                try LeadEvents.disqualified(db, lead, actor: Actor(caller), now: now)
                return Crm_Leads_V1_DisqualifyLeadResponse(lead: lead.proto(now: now, warningBeforeMs: settings.warningBeforeMs))
            }
            relay.wake()
            return response
        }
    }
}
