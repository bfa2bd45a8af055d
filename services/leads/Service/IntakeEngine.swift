import CRMProto
import GRDB
import RPCCore
import ServiceRuntime

/// One intake input after validation, ready to store: the request as the idempotency record sees it.
struct PreparedIntake: Sendable {
    var request: Crm_Leads_V1_CreateLeadRequest
    var lead: ValidatedLead
    var route: IntakeRoute
}

/// R1 intake shared by CreateLead, bulk intake and the repurchase hand-over: validate, check
/// duplicates against open leads, route (rules, pool, caller, owner), store with its assignment record
/// and events, idempotent by request_id.
extension LeadHandler {
    static let createScope = "CreateLead"

    /// Validates one input; throws FieldProblems (every bad field) or PERMISSION_DENIED.
    static func prepare(_ request: Crm_Leads_V1_CreateLeadRequest, caller: Caller,
                        settings: LeadSettingsValues) throws -> PreparedIntake {
        var problems = FieldProblems()
        let lead = IntakeValidation.validate(request.lead, defaultPhoneRegion: settings.defaultPhoneRegion,
                                             problems: &problems)
        let route = try IntakeValidation.route(request.routing, ownerID: request.ownerId, caller: caller,
                                               problems: &problems)
        if request.requestId.count > 200 { problems.add("request_id", "at most 200 characters") }
        try problems.throwIfAny()
        return PreparedIntake(request: request, lead: lead, route: route)
    }

    /// The settings and assignment rules intake reads before its write: two small tables, read on
    /// the calling thread in one transaction.
    func intakeConfiguration() throws -> (settings: LeadSettingsValues, rules: [Crm_Leads_V1_AssignmentRule]) {
        try store.readHere { db in (try LeadSettingsValues.load(db), try AssignmentRules.load(db).rules) }
    }

    /// Rules (and the directory when a rule or an OWNER route needs it), read before the write.
    func routingInputs(for prepared: [PreparedIntake], rules: [Crm_Leads_V1_AssignmentRule]) async throws
        -> RoutingInputs {
        let needsRules = prepared.contains { $0.route == .rules } && AssignmentRules.needDirectory(rules)
        let needsOwner = prepared.contains { if case .owner = $0.route { true } else { false } }
        var inputs = RoutingInputs(rules: rules, directory: nil, directoryProblem: nil)
        if needsRules || needsOwner {
            do {
                inputs.directory = try await directory.snapshot()
            } catch let error as RPCError {
                inputs.directoryProblem = error.message
            }
        }
        return inputs
    }

    /// Stores one prepared input inside the caller's transaction. Throws DuplicateLead, or RPCError
    /// for routing problems; a repeat of a request_id returns the first response (replayed).
    static func insert(_ db: Database, _ prepared: PreparedIntake, caller: Caller, inputs: RoutingInputs,
                       settings: LeadSettingsValues, now: Int64) throws -> Crm_Leads_V1_CreateLeadResponse {
        let request = prepared.request
        let (response, replayed) = try RequestKeys.run(
            db, scope: createScope, requestID: request.requestId, request: request, nowMs: now
        ) { () throws -> Crm_Leads_V1_CreateLeadResponse in
            let lead = prepared.lead
            let duplicate = try Duplicates.findOpen(db, phone: lead.phone, email: lead.email)
            if let duplicate, !lead.force { throw duplicate }
            var row = LeadRow(id: LeadIDs.make("lead", nowMs: now), intake: lead, createdBy: caller.userID, now: now)
            row.forcedDuplicateOf = duplicate?.leadID ?? ""
            let decision = try decide(db, prepared.route, lead: lead, caller: caller, inputs: inputs, now: now)
            if decision.toPool {
                row.returnToPool()
            } else {
                row.assign(to: decision.ownerID, team: decision.teamID, now: now, windowMs: settings.activationWindowMs)
            }
            try row.insert(db)
            let record = AssignmentRow(Crm_Leads_V1_AssignmentRecord(
                id: LeadIDs.make("asg", nowMs: now), leadId: row.id, kind: decision.kind, fromOwnerId: "",
                toOwnerId: decision.ownerID, actorId: decision.kind == .assignedByRule ? "system" : caller.userID,
                reason: lead.force ? "\(decision.reason); forced duplicate: \(lead.forceReason)" : decision.reason,
                ruleId: decision.ruleID, atMs: now, activationDeadlineMs: row.activationDeadlineMs))
            try record.insert(db)
            let actor = Actor(caller)
            try LeadEvents.created(db, row, actor: actor, requestID: request.requestId, now: now)
            if !decision.toPool {
                try LeadEvents.assignment(db, row, record: record, actor: actor, requestID: request.requestId, now: now)
            }
            return Crm_Leads_V1_CreateLeadResponse(
                lead: row.proto(now: now, warningBeforeMs: settings.warningBeforeMs), assignment: record.proto)
        }
        var out = response
        out.replayed = replayed
        return out
    }

    /// Where a new lead goes for its route.
    static func decide(_ db: Database, _ route: IntakeRoute, lead: ValidatedLead, caller: Caller,
                       inputs: RoutingInputs, now: Int64) throws -> RoutingDecision {
        switch route {
        case .pool:
            return .pool("intake: pool requested")
        case .caller:
            return RoutingDecision(kind: .assignedAtIntake, ownerID: caller.userID, teamID: caller.team,
                                   ruleID: "", reason: "intake: assigned to the caller")
        case .owner(let ownerID):
            let user = try availableUser(ownerID, inputs: inputs, now: now, field: "owner_id")
            return RoutingDecision(kind: .assignedAtIntake, ownerID: user.id, teamID: user.teamID, ruleID: "",
                                   reason: "intake: assigned to \(user.id) by \(caller.userID)")
        case .rules:
            return try Router.byRules(db, source: lead.source, region: lead.region, industry: lead.industry,
                                      inputs: inputs, now: now)
        }
    }

    /// A user a lead may be given to by hand: known, active, not out of office (capacity may be
    /// exceeded by a manager). UNAVAILABLE when the directory cannot be read.
    static func availableUser(_ id: String, inputs: RoutingInputs, now: Int64, field: String) throws -> DirectoryUser {
        guard let directory = inputs.directory else {
            throw RPCError(.unavailable, inputs.directoryProblem ?? "user directory unavailable")
        }
        guard let user = directory.user(id) else {
            throw RPCError(.invalidArgument, "\(field): no user '\(id)' in the directory")
        }
        guard user.active else {
            throw RPCError(.failedPrecondition, "\(field): user '\(id)' is deactivated and gets no new leads")
        }
        guard !user.isOutOfOffice(now: now) else {
            throw RPCError(.failedPrecondition, "\(field): user '\(id)' is out of office")
        }
        return user
    }
}
