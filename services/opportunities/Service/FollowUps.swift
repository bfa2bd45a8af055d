import CRMProto
import GRDB
import RPCCore
import ServiceRuntime

extension OpportunityService {
    static let followUpScope = "RecordFollowUp"

    /// R5: a follow-up is an action + conclusion + next step + next-step time. Junk is refused (R5);
    /// the next step becomes a task (R6) and the deal's next action; R8 is re-evaluated; the follow-up
    /// goes to crm-customers' timeline as FOLLOW_UP_RECORDED.
    public func recordFollowUp(_ request: Crm_Opportunities_V1_RecordFollowUpRequest, context: ServerContext) async throws
        -> Crm_Opportunities_V1_RecordFollowUpResponse {
        try await guarded {
            let caller = try Access.user(context)
            let now = clock.nowMs()
            try FollowUpRules.validateFormat(request, now: now)

            // A customer-only follow-up checks the customer with crm-customers (as the caller) first.
            let isReplay = try await store.read { db in
                try Self.isStored(db, scope: Self.followUpScope, requestID: request.requestId)
            }
            if !isReplay && request.opportunityId.isBlank {
                switch await directory.customer(request.customerId.trimmed, as: caller) {
                case .missing: throw RPCError(.invalidArgument, "customer_id: no customer \(request.customerId)")
                case .found, .unknown: break
                }
            }

            let response = try await store.write { db -> Crm_Opportunities_V1_RecordFollowUpResponse in
                let (stored, replayed) = try Idempotency.run(
                    db, scope: Self.followUpScope, requestID: request.requestId, request: request, nowMs: now
                ) { () throws -> Crm_Opportunities_V1_RecordFollowUpResponse in
                    let c = writeContext(db, now: now, caller: caller, requestID: request.requestId)
                    return try Self.insertFollowUp(request, caller: caller, c)
                }
                var response = stored
                response.replayed = replayed
                return response
            }
            relay?.wake()
            return response
        }
    }

    private static func insertFollowUp(_ request: Crm_Opportunities_V1_RecordFollowUpRequest, caller: Caller,
                                       _ c: WriteContext) throws -> Crm_Opportunities_V1_RecordFollowUpResponse {
        let settings = try SettingsStore.load(c.db)
        let occurredAt = request.occurredAtMs == 0 ? c.now : request.occurredAtMs
        try FollowUpRules.requireR5(request, occurredAt: occurredAt, settings: settings)

        var opportunity: Opportunity?
        if !request.opportunityId.isBlank {
            let o = try Access.visibleOpportunity(c.db, id: request.opportunityId.trimmed, caller: caller)
            if !request.customerId.isBlank && request.customerId.trimmed != o.customerId {
                throw RPCError(.invalidArgument, "customer_id: opportunity \(o.id) belongs to customer \(o.customerId), not \(request.customerId)")
            }
            guard o.status == .open else {
                throw RPCError(.failedPrecondition, "opportunity \(o.id) is \(StageLadder.label(o.stage)); log follow-ups against customer \(o.customerId) instead")
            }
            opportunity = o
        }

        var seenContacts = Set<String>()
        let contactIDs = request.contactIds.map(\.trimmed).filter { !$0.isEmpty && seenContacts.insert($0).inserted }
        var f = FollowUp()
        f.id = RecordID.make("fu", nowMs: c.now)
        f.opportunityId = opportunity?.id ?? ""
        f.customerId = opportunity?.customerId ?? request.customerId.trimmed
        f.ownerId = caller.userID
        f.teamId = opportunity?.teamId ?? caller.team
        f.type = request.type
        f.conclusion = request.conclusion.trimmed
        f.nextStep = request.nextStep.trimmed
        f.nextStepDueMs = request.nextStepDueMs
        f.contactIds = contactIDs
        f.keyPersonMet = opportunity.map { !$0.keyPersonContactId.isEmpty && contactIDs.contains($0.keyPersonContactId) } ?? false
        f.faceToFace = request.type == .visit || (request.type == .meeting && request.inPerson)
        f.occurredAtMs = occurredAt
        f.createdAtMs = c.now

        // R6: the next step is a task for the deal's owner (or the author, without a deal).
        let task = TaskBook.newTask(
            owner: opportunity?.ownerId ?? caller.userID, team: f.teamId, title: f.nextStep, dueMs: f.nextStepDueMs,
            origin: .followUp, opportunityID: f.opportunityId, customerID: f.customerId, followUpID: f.id, c)
        f.nextTaskId = task.id
        try FollowUpTable.insert(c.db, f)
        try TaskTable.save(c.db, task)

        var response = Crm_Opportunities_V1_RecordFollowUpResponse(followUp: f, nextTask: task)
        if var o = opportunity {
            // The follow-up acted on the previous next step: it is done, the new one takes its place.
            if var previous = try TaskTable.find(c.db, id: o.nextStepTaskId), previous.status == .open {
                try TaskBook.complete(&previous, note: "done: follow-up \(f.id)", c)
            }
            TaskBook.makeNextStep(task, of: &o)
            o.lastFollowUpAtMs = max(o.lastFollowUpAtMs, occurredAt)
            OpportunityWrite.noteAction(&o, at: occurredAt)
            o.followUpCount += 1
            if f.keyPersonMet { o.keyPersonMet = true }
            if f.faceToFace { o.faceToFaceHeld = true }
            // Meeting the key person, or saying so, confirms them (R8, R11).
            if (request.keyPersonConfirmed || f.keyPersonMet) && !o.keyPersonContactId.isEmpty { o.keyPersonConfirmed = true }
            try OpportunityWrite.commit(&o, settings: settings, c)
            response.opportunity = o
        }

        var event = EventOutbox.envelope(.followUpRecorded, c)
        event.aggregateType = .followUp
        event.aggregateId = f.id
        event.aggregateVersion = 1
        event.opportunityId = f.opportunityId
        event.customerId = f.customerId
        event.teamId = f.teamId
        event.followUpRecorded = Crm_Events_V1_FollowUpRecordedPayload(
            followUpId: f.id, type: f.type, conclusion: f.conclusion, nextStep: f.nextStep,
            nextStepDueMs: f.nextStepDueMs, ownerId: f.ownerId, contactIds: f.contactIds,
            keyPersonMet: f.keyPersonMet, faceToFace: f.faceToFace, occurredAtMs: f.occurredAtMs)
        try EventOutbox.enqueue(event, c)
        return response
    }

    /// Follow-up history by opportunity, customer or author, newest first. A follow-up on a deal is seen
    /// by whoever sees the deal (history stays with it when owners change).
    public func listFollowUps(_ request: Crm_Opportunities_V1_ListFollowUpsRequest, context: ServerContext) async throws
        -> Crm_Opportunities_V1_ListFollowUpsResponse {
        try await guarded {
            let caller = try Access.userOrSystem(context)
            let pageSize = try PageToken.pageSize(request.pageSize)
            let cursor = try PageToken.decode(request.pageToken, parts: 2).map { parts -> (Int64, String) in
                guard let at = Int64(parts[0]) else { throw RPCError(.invalidArgument, "page_token: malformed") }
                return (at, parts[1])
            }
            for type in request.types { if case .unrecognized(let n) = type { throw RPCError(.invalidArgument, "types: unknown activity type \(n)") } }
            return try await store.read { db in
                var conditions = Conditions()
                conditions.add(Access.visibilityCondition(caller, owner: "COALESCE(o.owner_id, f.owner_id)",
                                                          team: "COALESCE(o.team_id, f.team_id)"))
                if !request.opportunityId.isEmpty { conditions.add("f.opportunity_id = ?", [request.opportunityId]) }
                if !request.customerId.isEmpty { conditions.add("f.customer_id = ?", [request.customerId]) }
                if !request.ownerId.isEmpty { conditions.add("f.owner_id = ?", [request.ownerId]) }
                if !request.teamId.isEmpty { conditions.add("COALESCE(o.team_id, f.team_id) = ?", [request.teamId]) }
                conditions.addIn("f.type", request.types.map(\.rawValue))
                if request.sinceMs > 0 { conditions.add("f.occurred_at_ms >= ?", [request.sinceMs]) }
                if request.untilMs > 0 { conditions.add("f.occurred_at_ms < ?", [request.untilMs]) }
                if let (at, id) = cursor {
                    conditions.add("(f.occurred_at_ms < ? OR (f.occurred_at_ms = ? AND f.id < ?))", [at, at, id])
                }
                let rows = try Row.fetchAll(db, sql: """
                    SELECT f.record FROM follow_ups f LEFT JOIN opportunities o ON o.id = f.opportunity_id
                    WHERE \(conditions.sql) ORDER BY f.occurred_at_ms DESC, f.id DESC LIMIT ?
                    """, arguments: conditions.arguments + [pageSize + 1])
                let followUps = try rows.prefix(pageSize).map { try decode(FollowUp.self, $0) }
                let next = rows.count > pageSize ? followUps.last.map { PageToken.encode([String($0.occurredAtMs), $0.id]) } : nil
                return .init(followUps: followUps, nextPageToken: next ?? "")
            }
        }
    }
}

/// R5's checks on a follow-up request.
enum FollowUpRules {
    /// Malformed input (INVALID_ARGUMENT), independent of configuration.
    static func validateFormat(_ r: Crm_Opportunities_V1_RecordFollowUpRequest, now: Int64) throws {
        var errors = FieldErrors()
        errors.maxLength("request_id", r.requestId, 200)
        if r.opportunityId.isBlank && r.customerId.isBlank {
            errors.add("opportunity_id", "required (or customer_id for a follow-up without an opportunity)")
        }
        switch r.type {
        case .unspecified: errors.add("type", "required (visit, call, meeting, proposal or message)")
        case .unrecognized(let n): errors.add("type", "unknown activity type \(n)")
        default: break
        }
        if r.occurredAtMs < 0 { errors.add("occurred_at_ms", "must not be negative") }
        if r.occurredAtMs > now { errors.add("occurred_at_ms", "is in the future; record follow-ups after they happen") }
        errors.maxLength("conclusion", r.conclusion, 8000)
        errors.maxLength("next_step", r.nextStep, 1000)
        if r.contactIds.count > 100 { errors.add("contact_ids", "at most 100") }
        try errors.throwIfAny()
    }

    /// FAILED_PRECONDITION "R5: …" when the conclusion is empty, too short or boilerplate, or the next
    /// step or its time is missing.
    static func requireR5(_ r: Crm_Opportunities_V1_RecordFollowUpRequest, occurredAt: Int64,
                          settings: OpportunitySettings) throws {
        var problems: [String] = []
        if let problem = ConclusionCheck.problem(conclusion: r.conclusion, settings: settings) { problems.append(problem) }
        if let problem = ConclusionCheck.problem(nextStep: r.nextStep, settings: settings) { problems.append(problem) }
        if r.nextStepDueMs <= 0 {
            problems.append("next_step_due_ms: required (when the next step is due)")
        } else if r.nextStepDueMs <= occurredAt {
            problems.append("next_step_due_ms: must be after the follow-up itself")
        }
        if !problems.isEmpty {
            throw ruleViolation("R5", "every follow-up states a conclusion and names the next step: \(problems.joined(separator: "; "))")
        }
    }
}
