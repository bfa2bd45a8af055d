import CRMProto
import Foundation
import GRDB
import RPCCore
import ServiceRuntime

/// R2 activation: recording contacts, the owner's due list, the warning/reclaim sweep on demand.
extension LeadHandler {
    static let contactScope = "RecordContact"

    public func recordContact(_ request: Crm_Leads_V1_RecordContactRequest, context: ServerContext) async throws
        -> Crm_Leads_V1_RecordContactResponse {
        try await guarded {
            let caller = try caller(context)
            var errors = FieldErrors()
            if request.leadId.isEmpty { errors.add("lead_id", "required") }
            switch request.channel {
            case .unspecified: errors.add("channel", "required")
            case .unrecognized(let n): errors.add("channel", "unknown value \(n)")
            default: break
            }
            switch request.outcome {
            case .unspecified: errors.add("outcome", "required")
            case .unrecognized(let n): errors.add("outcome", "unknown value \(n)")
            default: break
            }
            errors.maxLength("note", request.note, 4000)
            errors.maxLength("request_id", request.requestId, 200)
            if request.contactedAtMs < 0 { errors.add("contacted_at_ms", "must not be negative") }
            let now = clock.nowMs()
            if request.contactedAtMs > now {
                errors.add("contacted_at_ms", "in the future (now is \(now))")
            }
            try errors.throwIfAny()
            let response = try await store.write { db -> Crm_Leads_V1_RecordContactResponse in
                let (response, replayed) = try RequestKeys.run(
                    db, scope: Self.contactScope, requestID: request.requestId, request: request, nowMs: now
                ) { () throws -> Crm_Leads_V1_RecordContactResponse in
                    try Self.storeContact(db, request, caller: caller, now: now)
                }
                var out = response
                out.replayed = replayed
                return out
            }
            if !response.replayed { relay.wake() }
            return response
        }
    }

    private static func storeContact(_ db: Database, _ request: Crm_Leads_V1_RecordContactRequest, caller: Caller,
                                     now: Int64) throws -> Crm_Leads_V1_RecordContactResponse {
        let settings = try LeadSettingsValues.load(db)
        var lead = try visibleLead(db, id: request.leadId, caller: caller)
        switch lead.leadStatus {
        case .assigned, .activated:
            break
        case .pool:
            throw ruleViolation("R2", "lead \(lead.id) is in the pool; claim it before recording a contact")
        default:
            throw RPCError(.failedPrecondition, "lead \(lead.id) is \(lead.leadStatus.protoName); contacts are recorded on assigned or activated leads")
        }
        guard LeadVisibility.canManage(caller, lead) else {
            throw RPCError(.permissionDenied, "only the owner, a manager of the team or an admin records contacts on lead \(lead.id)")
        }
        let contactedAt = request.contactedAtMs == 0 ? now : request.contactedAtMs
        if contactedAt < lead.assignedAtMs {
            throw RPCError(.invalidArgument, "contacted_at_ms: before the lead was assigned (\(lead.assignedAtMs))")
        }
        let activates = lead.leadStatus == .assigned
        let withinDeadline = contactedAt <= lead.activationDeadlineMs
        lead.contactAttempts = lead.contactAttempts.addingSaturated(1)
        lead.lastContactAtMs = max(lead.lastContactAtMs, contactedAt)
        if activates {
            lead.status = Crm_Leads_V1_LeadStatus.activated.rawValue
            lead.activatedAtMs = contactedAt
            if lead.firstActivatedAtMs == 0 {
                lead.firstActivatedAtMs = contactedAt
                lead.firstActivationDelayMs = contactedAt.subtractingClamped(lead.assignedAtMs)
                lead.firstActivatedWithinDeadline = withinDeadline
            }
        }
        try lead.saveChange(db, now: now)
        let attempt = ContactAttemptRow(Crm_Leads_V1_ContactAttempt(
            id: LeadIDs.make("cta", nowMs: now), leadId: lead.id, channel: request.channel, outcome: request.outcome,
            note: request.note.trimmingCharacters(in: .whitespacesAndNewlines), actorId: caller.userID,
            contactedAtMs: contactedAt, recordedAtMs: now, activatedLead: activates,
            withinDeadline: activates ? withinDeadline : false))
        try attempt.insert(db)
        if activates {
            try LeadEvents.activated(db, lead, withinDeadline: withinDeadline, actor: Actor(caller),
                                     requestID: request.requestId, now: now)
        }
        return Crm_Leads_V1_RecordContactResponse(
            lead: lead.proto(now: now, warningBeforeMs: settings.warningBeforeMs), attempt: attempt.proto)
    }

    /// The owner's (or team's) ASSIGNED leads, soonest deadline first (R2, R6 reminders).
    public func listDue(_ request: Crm_Leads_V1_ListDueRequest, context: ServerContext) async throws
        -> Crm_Leads_V1_ListDueResponse {
        try await guarded {
            let caller = try caller(context)
            let pageSize = try PageToken.pageSize(request.pageSize)
            let team = request.teamId
            let owner = request.ownerId.isEmpty && team.isEmpty ? caller.userID : request.ownerId
            switch caller.role {
            case .rep:
                if owner != caller.userID || (!team.isEmpty && team != caller.team) {
                    throw RPCError(.permissionDenied, "a rep lists only own due leads")
                }
            case .manager:
                if !team.isEmpty && team != caller.team {
                    throw RPCError(.permissionDenied, "team_id: a manager lists only own team \(caller.team)")
                }
            case .admin:
                break
            }
            var filter = request
            filter.pageSize = 0
            filter.pageToken = ""
            let fingerprint = Fingerprint.of(filter)
            let cursor = try PageToken.decode(request.pageToken, parts: 3)
            if let cursor, cursor[0] != fingerprint {
                throw RPCError(.invalidArgument, "page_token: belongs to a different filter")
            }
            let cursorDeadline = try cursor.map { parts -> Int64 in
                guard let value = Int64(parts[1]) else { throw RPCError(.invalidArgument, "page_token: malformed") }
                return value
            }
            let now = clock.nowMs()
            return try await store.read { db in
                let settings = try LeadSettingsValues.load(db)
                let (visibility, visibilityArguments) = LeadVisibility.sql(caller)
                var sql = "SELECT rowid AS seq, * FROM leads WHERE status = 2 AND \(visibility)"
                var arguments = visibilityArguments
                if !owner.isEmpty {
                    sql += " AND owner_id = ?"
                    arguments += [owner]
                }
                if !team.isEmpty {
                    sql += " AND team_id = ?"
                    arguments += [team]
                }
                if request.untilMs > 0 {
                    sql += " AND activation_deadline_ms < ?"
                    arguments += [request.untilMs]
                }
                if let cursor, let cursorDeadline {
                    guard let cursorSeq = Int64(cursor[2]) else { throw RPCError(.invalidArgument, "page_token: malformed") }
                    sql += " AND (activation_deadline_ms > ? OR (activation_deadline_ms = ? AND rowid > ?))"
                    arguments += [cursorDeadline, cursorDeadline, cursorSeq]
                }
                sql += " ORDER BY activation_deadline_ms, rowid LIMIT ?"
                arguments += [pageSize + 1]
                let (rows, next) = try Self.page(db, sql: sql, arguments: arguments, size: pageSize) { lead, seq in
                    PageToken.encode([fingerprint, String(lead.activationDeadlineMs), String(seq)])
                }
                let due = rows.map { row in
                    Crm_Leads_V1_DueLead(
                        lead: row.proto(now: now, warningBeforeMs: settings.warningBeforeMs),
                        deadlineMs: row.activationDeadlineMs,
                        remainingMs: row.activationDeadlineMs.subtractingClamped(now),
                        state: row.activationState(now: now, warningBeforeMs: settings.warningBeforeMs))
                }
                return Crm_Leads_V1_ListDueResponse(leads: due, nextPageToken: next)
            }
        }
    }

    /// The R2 sweep on demand (admin, or the suite itself with only the service token).
    public func runSweep(_ request: Crm_Leads_V1_RunSweepRequest, context: ServerContext) async throws
        -> Crm_Leads_V1_RunSweepResponse {
        try await guarded {
            if context.requestMetadata[Caller.userKey] != nil {
                let caller = try caller(context)
                guard caller.role == .admin else {
                    throw RPCError(.permissionDenied, "RunSweep needs an admin; \(caller.userID) is a \(caller.role.rawValue)")
                }
            }
            let outcome = try await sweep(dryRun: request.dryRun)
            return Crm_Leads_V1_RunSweepResponse(
                warnedLeadIds: outcome.warned, reclaimedLeadIds: outcome.reclaimed, sweptAtMs: outcome.at)
        }
    }

    /// One sweep at the injected clock's "now" (shared by RunSweep and the periodic job).
    func sweep(dryRun: Bool = false) async throws -> (warned: [String], reclaimed: [String], at: Int64) {
        let now = clock.nowMs()
        let outcome = try await store.write { db in
            try ActivationSweep.run(db, now: now, settings: try LeadSettingsValues.load(db), dryRun: dryRun)
        }
        if !outcome.reclaimed.isEmpty && !dryRun { relay.wake() }
        return (outcome.warned, outcome.reclaimed, now)
    }
}
