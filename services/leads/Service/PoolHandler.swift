import CRMProto
import Foundation
import GRDB
import RPCCore
import ServiceRuntime

/// Pool and assignment: reps claim from the pool up to the claim cap; managers (re)assign to a user,
/// to the pool or through the rules; a rep may hand own lead back. Each change restarts the R2 clock
/// and is recorded with who and why.
extension LeadHandler {
    public func claimLead(_ request: Crm_Leads_V1_ClaimLeadRequest, context: ServerContext) async throws
        -> Crm_Leads_V1_ClaimLeadResponse {
        try await guarded {
            let caller = try caller(context)
            try Self.requireID("lead_id", request.leadId)
            let now = clock.nowMs()
            let response = try await store.write { db -> Crm_Leads_V1_ClaimLeadResponse in
                let settings = try LeadSettingsValues.load(db)
                guard var lead = try LeadRow.fetch(db, id: request.leadId) else {
                    throw RPCError(.notFound, "lead '\(request.leadId)' not found")
                }
                if lead.ownerId == caller.userID, lead.leadStatus == .assigned || lead.leadStatus == .activated {
                    // Repeating a claim the caller already holds returns the lead unchanged.
                    let last = try AssignmentRow.history(db, leadID: lead.id).last
                    return Crm_Leads_V1_ClaimLeadResponse(
                        lead: lead.proto(now: now, warningBeforeMs: settings.warningBeforeMs), assignment: last?.proto)
                }
                if !LeadVisibility.canSee(caller, lead) {
                    // Lost a race for a pool lead: say so. A lead never in the pool stays invisible.
                    if lead.everInPool {
                        throw RPCError(.aborted, "lead \(lead.id) was claimed by someone else")
                    }
                    throw RPCError(.notFound, "lead '\(request.leadId)' not found")
                }
                guard lead.leadStatus == .pool else {
                    if !lead.ownerId.isEmpty {
                        throw RPCError(.aborted, "lead \(lead.id) is no longer in the pool (held by \(lead.ownerId))")
                    }
                    throw RPCError(.failedPrecondition, "lead \(lead.id) is \(lead.leadStatus.protoName); only pool leads can be claimed")
                }
                try Self.checkVersion(lead, request.version)
                let held = try Router.openUnactivated(db, userID: caller.userID)
                if held >= Int(settings.claimCap) {
                    throw RPCError(.failedPrecondition, """
                        claim_cap: \(caller.userID) already holds \(held) open unactivated leads (cap \(settings.claimCap)); \
                        contact (R2) or return some before claiming more
                        """)
                }
                lead.assign(to: caller.userID, team: caller.team, now: now, windowMs: settings.activationWindowMs)
                try lead.saveChange(db, now: now)
                let record = try Self.recordAssignment(
                    db, lead, kind: .claimed, from: "", actor: Actor(caller), reason: "claimed from the pool", now: now)
                return Crm_Leads_V1_ClaimLeadResponse(
                    lead: lead.proto(now: now, warningBeforeMs: settings.warningBeforeMs), assignment: record.proto)
            }
            relay.wake()
            return response
        }
    }

    public func assignLead(_ request: Crm_Leads_V1_AssignLeadRequest, context: ServerContext) async throws
        -> Crm_Leads_V1_AssignLeadResponse {
        try await guarded {
            let caller = try caller(context)
            let owner = request.ownerId.trimmingCharacters(in: .whitespaces)
            var errors = FieldErrors()
            if request.leadId.isEmpty { errors.add("lead_id", "required") }
            if request.version <= 0 { errors.add("version", "required (the version this change is based on)") }
            let targets = [!owner.isEmpty, request.toPool, request.byRules].filter { $0 }.count
            if targets != 1 { errors.add("owner_id", "exactly one of owner_id, to_pool, by_rules is required") }
            errors.maxLength("reason", request.reason, 1000)
            try errors.throwIfAny()
            if caller.role == .rep && !request.toPool {
                throw RPCError(.permissionDenied, "assigning leads needs a manager or admin; a rep may only return own lead to the pool")
            }
            var inputs = RoutingInputs(rules: [], directory: nil, directoryProblem: nil)
            if request.byRules {
                let rules = try await store.read { db in try AssignmentRules.load(db).rules }
                inputs.rules = rules
            }
            if !owner.isEmpty || (request.byRules && AssignmentRules.needDirectory(inputs.rules)) {
                do { inputs.directory = try await directory.snapshot() } catch let error as RPCError {
                    if !owner.isEmpty { throw error }
                    inputs.directoryProblem = error.message
                }
            }
            let now = clock.nowMs()
            let reason = request.reason.trimmingCharacters(in: .whitespacesAndNewlines)
            let routing = inputs
            let response = try await store.write { db -> Crm_Leads_V1_AssignLeadResponse in
                let settings = try LeadSettingsValues.load(db)
                var lead = try Self.visibleLead(db, id: request.leadId, caller: caller)
                guard LeadVisibility.canManage(caller, lead) else {
                    throw RPCError(.permissionDenied, "\(caller.userID) may not reassign lead \(lead.id)")
                }
                guard [.pool, .assigned, .activated].contains(lead.leadStatus) else {
                    throw RPCError(.failedPrecondition, "lead \(lead.id) is \(lead.leadStatus.protoName) and can no longer be assigned")
                }
                try Self.checkVersion(lead, request.version)
                let previousOwner = lead.ownerId
                let kind: Crm_Leads_V1_AssignmentKind
                var ruleID = ""
                var why = reason
                if request.toPool {
                    guard lead.leadStatus != .pool else {
                        throw RPCError(.failedPrecondition, "lead \(lead.id) is already in the pool")
                    }
                    lead.returnToPool()
                    kind = .returnedToPool
                    if why.isEmpty { why = "returned to the pool by \(caller.userID)" }
                } else if !owner.isEmpty {
                    let user = try Self.availableUser(owner, inputs: routing, now: now, field: "owner_id")
                    if caller.role == .manager, user.teamID != caller.team {
                        throw RPCError(.permissionDenied, "owner_id: \(owner) is not in your team \(caller.team)")
                    }
                    lead.assign(to: user.id, team: user.teamID, now: now, windowMs: settings.activationWindowMs)
                    kind = .assignedByManager
                    if why.isEmpty { why = "assigned by \(caller.userID)" }
                } else {
                    let decision = try Router.byRules(db, source: lead.leadSource, region: lead.region,
                                                      industry: lead.industry, inputs: routing, now: now)
                    ruleID = decision.ruleID
                    why = why.isEmpty ? decision.reason : "\(why) (\(decision.reason))"
                    if decision.toPool {
                        guard lead.leadStatus != .pool else {
                            throw RPCError(.failedPrecondition, "the rules leave lead \(lead.id) in the pool: \(decision.reason)")
                        }
                        lead.returnToPool()
                        kind = .returnedToPool
                    } else {
                        lead.assign(to: decision.ownerID, team: decision.teamID, now: now, windowMs: settings.activationWindowMs)
                        kind = .assignedByRule
                    }
                }
                try lead.saveChange(db, now: now)
                let record = try Self.recordAssignment(db, lead, kind: kind, from: previousOwner, actor: Actor(caller),
                                                       reason: why, ruleID: ruleID, now: now)
                return Crm_Leads_V1_AssignLeadResponse(
                    lead: lead.proto(now: now, warningBeforeMs: settings.warningBeforeMs), assignment: record.proto)
            }
            relay.wake()
            return response
        }
    }

    /// Appends to the assignment log and emits LEAD_ASSIGNED / LEAD_RECLAIMED (lead already saved).
    static func recordAssignment(_ db: Database, _ lead: LeadRow, kind: Crm_Leads_V1_AssignmentKind, from: String,
                                 actor: Actor, reason: String, ruleID: String = "", requestID: String = "",
                                 now: Int64) throws -> AssignmentRow {
        let record = AssignmentRow(Crm_Leads_V1_AssignmentRecord(
            id: LeadIDs.make("asg", nowMs: now), leadId: lead.id, kind: kind, fromOwnerId: from,
            toOwnerId: lead.ownerId, actorId: actor.id, reason: reason, ruleId: ruleID, atMs: now,
            activationDeadlineMs: lead.activationDeadlineMs))
        try record.insert(db)
        try LeadEvents.assignment(db, lead, record: record, actor: actor, requestID: requestID, now: now)
        return record
    }
}
