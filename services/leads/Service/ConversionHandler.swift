import CRMProto
import Foundation
import GRDB
import RPCCore
import ServiceRuntime

/// Line 1 conversion: a saga creating (or linking) the customer and its key contact in crm-customers
/// and the opportunity in crm-opportunities, then marking the lead CONVERTED with both ids. Each peer is
/// called with a key derived from the lead id and each record id is stored as soon as it is known, so
/// a repeat — or a retry after a peer failed half-way — finishes the work without creating anything
/// twice. While a peer is down the call answers UNAVAILABLE and the lead stays CONVERTING.
extension LeadHandler {
    static let convertScope = "ConvertLead"

    public func convertLead(_ request: Crm_Leads_V1_ConvertLeadRequest, context: ServerContext) async throws
        -> Crm_Leads_V1_ConvertLeadResponse {
        try await guarded {
            let caller = try caller(context)
            var errors = FieldErrors()
            if request.leadId.isEmpty { errors.add("lead_id", "required") }
            errors.maxLength("request_id", request.requestId, 200)
            try errors.throwIfAny()
            let now = clock.nowMs()
            let (lead, progress, settings, replay) = try await store.read { db in
                var replay: Crm_Leads_V1_ConvertLeadResponse?
                if !request.requestId.isEmpty, let bytes = try Data.fetchOne(db, sql: """
                    SELECT response FROM idempotency WHERE scope = ? AND request_id = ?
                    """, arguments: [Self.convertScope, request.requestId]) {
                    let stored = try Crm_Leads_V1_ConvertLeadResponse(serializedBytes: Array(bytes))
                    guard stored.lead?.id == request.leadId else {
                        throw RPCError(.failedPrecondition, "request_id: '\(request.requestId)' was already used to convert another lead")
                    }
                    replay = stored
                }
                let lead = try Self.visibleLead(db, id: request.leadId, caller: caller)
                return (lead, try ConversionProgress.load(db, leadID: lead.id), try LeadSettingsValues.load(db), replay)
            }
            if var replay {
                replay.replayed = true
                return replay
            }
            if lead.leadStatus == .converted {
                return Self.convertedResponse(lead, progress: progress, now: now, settings: settings)
            }
            guard LeadVisibility.canManage(caller, lead) else {
                throw RPCError(.permissionDenied, "only the owner, a manager of the team or an admin converts lead \(lead.id)")
            }
            switch lead.leadStatus {
            case .activated:
                try Self.checkVersion(lead, request.version)
            case .converting:
                break
            case .pool, .assigned:
                throw ruleViolation("R2", "lead \(lead.id) is \(lead.leadStatus.protoName); record a contact (activate it) before converting")
            default:
                throw RPCError(.failedPrecondition, "lead \(lead.id) is \(lead.leadStatus.protoName) and cannot be converted")
            }
            let plan = try ConversionPlan.validate(request, lead: lead, settings: settings, now: now)
            guard await conversionLocks.acquire(lead.id) else {
                throw RPCError(.aborted, "a conversion of lead \(lead.id) is already running; retry when it finished")
            }
            do {
                let response = try await runSaga(request, plan: plan, caller: caller)
                await conversionLocks.release(lead.id)
                return response
            } catch {
                await conversionLocks.release(lead.id)
                throw error
            }
        }
    }

    /// A converted lead's stored answer (a repeat creates nothing).
    private static func convertedResponse(_ lead: LeadRow, progress: ConversionProgress?, now: Int64,
                                          settings: LeadSettingsValues) -> Crm_Leads_V1_ConvertLeadResponse {
        var response = progress?.response ?? Crm_Leads_V1_ConvertLeadResponse(
            customerId: lead.customerId, opportunityId: lead.opportunityId)
        response.lead = lead.proto(now: now, warningBeforeMs: settings.warningBeforeMs)
        response.steps = response.steps.map { step in
            var step = step
            if step.state == .done { step.state = .alreadyDone }
            return step
        }
        response.replayed = true
        return response
    }

    private enum SagaStart: Sendable {
        case proceed(ConversionProgress)
        case finished(Crm_Leads_V1_ConvertLeadResponse)
    }

    private func runSaga(_ request: Crm_Leads_V1_ConvertLeadRequest, plan: ConversionPlan, caller: Caller) async throws
        -> Crm_Leads_V1_ConvertLeadResponse {
        let leadID = request.leadId
        let now = clock.nowMs()
        // Lock the lead: CONVERTING is a lock, not an edit, so the version stays (a definitive refusal
        // by a peer before anything was created hands the lead back unchanged).
        let start = try await store.write { db -> SagaStart in
            let settings = try LeadSettingsValues.load(db)
            guard var lead = try LeadRow.fetch(db, id: leadID) else { throw RPCError(.notFound, "lead '\(leadID)' not found") }
            switch lead.leadStatus {
            case .converted:
                return .finished(Self.convertedResponse(lead, progress: try ConversionProgress.load(db, leadID: leadID),
                                                        now: now, settings: settings))
            case .activated:
                lead.status = Crm_Leads_V1_LeadStatus.converting.rawValue
                try lead.update(db)
                var progress = ConversionProgress(leadID: leadID)
                progress.startedBy = caller.userID
                progress.startedAtMs = now
                try progress.save(db)
                return .proceed(progress)
            case .converting:
                return .proceed(try ConversionProgress.load(db, leadID: leadID) ?? ConversionProgress(leadID: leadID))
            default:
                throw RPCError(.aborted, "lead \(leadID) changed to \(lead.leadStatus.protoName) meanwhile")
            }
        }
        var progress: ConversionProgress
        switch start {
        case .finished(let response): return response
        case .proceed(let started): progress = started
        }
        let lead = try await store.read { db in try LeadRow.fetch(db, id: leadID) }
        guard let lead else { throw RPCError(.notFound, "lead '\(leadID)' not found") }
        let saga = ConversionSaga(peers: peers, caller: caller, lead: lead, plan: plan)
        var steps: [Crm_Leads_V1_ConversionStepResult] = []
        do {
            let customer = try await saga.customerStep(&progress) { try await self.saveProgress($0) }
            steps.append(customer)
            steps.append(try await saga.keyContactStep(&progress, createdWithCustomer: customer.state == .done) {
                try await self.saveProgress($0)
            })
            steps.append(try await saga.opportunityStep(&progress) { try await self.saveProgress($0) })
        } catch let failure as PeerFailure {
            // A definitive refusal before anything was created hands the lead back (fix the facts and
            // call again); otherwise the lead stays CONVERTING and a repeat finishes the saga.
            let abandon = failure.definitive && progress.nothingCreated
            if abandon { try await releaseConversion(leadID) }
            throw failure.rpcError(leadID: leadID, leftConverting: !abandon)
        }
        return try await finishConversion(request, progress: progress, steps: steps, caller: caller)
    }

    private func saveProgress(_ progress: ConversionProgress) async throws {
        try await store.write { db in try progress.save(db) }
    }

    /// A peer refused before anything was created: the lead goes back to ACTIVATED as it was, and the
    /// progress (at most a linked customer or contact) is forgotten.
    private func releaseConversion(_ leadID: String) async throws {
        try await store.write { db in
            guard var lead = try LeadRow.fetch(db, id: leadID), lead.leadStatus == .converting else { return }
            lead.status = Crm_Leads_V1_LeadStatus.activated.rawValue
            try lead.update(db)
            try db.execute(sql: "DELETE FROM conversions WHERE lead_id = ?", arguments: [leadID])
        }
    }

    private func finishConversion(_ request: Crm_Leads_V1_ConvertLeadRequest, progress: ConversionProgress,
                                  steps: [Crm_Leads_V1_ConversionStepResult], caller: Caller) async throws
        -> Crm_Leads_V1_ConvertLeadResponse {
        let now = clock.nowMs()
        let response = try await store.write { db -> Crm_Leads_V1_ConvertLeadResponse in
            let settings = try LeadSettingsValues.load(db)
            guard var lead = try LeadRow.fetch(db, id: request.leadId) else {
                throw RPCError(.notFound, "lead '\(request.leadId)' not found")
            }
            if lead.leadStatus == .converted {
                return Self.convertedResponse(lead, progress: try ConversionProgress.load(db, leadID: lead.id),
                                              now: now, settings: settings)
            }
            guard lead.leadStatus == .converting else {
                throw RPCError(.aborted, "lead \(lead.id) changed to \(lead.leadStatus.protoName) meanwhile")
            }
            lead.status = Crm_Leads_V1_LeadStatus.converted.rawValue
            lead.customerId = progress.customerID
            lead.opportunityId = progress.opportunityID
            lead.convertedAtMs = now
            lead.closedAtMs = now
            try lead.saveChange(db, now: now)
            var response = Crm_Leads_V1_ConvertLeadResponse(
                lead: lead.proto(now: now, warningBeforeMs: settings.warningBeforeMs),
                customerId: progress.customerID, opportunityId: progress.opportunityID,
                keyPersonContactId: progress.keyContactID,
                steps: steps + [Crm_Leads_V1_ConversionStepResult(step: .leadMarked, state: .done, recordId: lead.id)])
            var done = progress
            done.completedAtMs = now
            done.response = response
            try done.save(db)
            _ = try RequestKeys.run(db, scope: Self.convertScope, requestID: request.requestId, request: request,
                                    nowMs: now) { response }
            try LeadEvents.converted(db, lead, actor: Actor(caller), requestID: request.requestId, now: now)
            response.replayed = false
            return response
        }
        relay.wake()
        return response
    }
}
