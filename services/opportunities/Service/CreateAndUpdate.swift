import CRMProto
import GRDB
import RPCCore
import ServiceRuntime

extension OpportunityService {
    static let createScope = "CreateOpportunity"

    /// R3: create a complete opportunity; idempotent by request_id, and by lead_id for conversions.
    public func createOpportunity(_ request: Crm_Opportunities_V1_CreateOpportunityRequest, context: ServerContext) async throws
        -> Crm_Opportunities_V1_CreateOpportunityResponse {
        try await guarded {
            let caller = try Access.user(context)
            let input = try NewOpportunity.validate(request)
            let owner = input.ownerID.isEmpty ? caller.userID : input.ownerID
            if owner != caller.userID { try caller.requireManager("creating an opportunity for another owner") }

            // R4: starting beyond RELATIONSHIP needs the facts of every stage up to the start.
            var draft = Opportunity()
            StageFactsInput.apply(request.facts, to: &draft)
            try StageGates.check(entering: StageLadder.entered(from: .unspecified, to: input.initialStage),
                                 target: StageLadder.label(input.initialStage), in: draft)

            // A replay answers from the store; only a first create consults the other services.
            let isReplay = try await store.read { db in
                try Self.isStored(db, scope: Self.createScope, requestID: request.requestId)
                    || (!request.leadId.isEmpty && OpportunityTable.find(db, leadID: request.leadId) != nil)
            }
            let team: String, names: (customer: String, keyPerson: String)
            if isReplay {
                (team, names) = (caller.team, ("", ""))
            } else {
                team = try await ownerTeam(owner, caller: caller)
                names = try await checkCustomerAndKeyPerson(customerID: input.customerID,
                                                            contactID: input.keyPersonContactID, caller: caller)
            }

            let now = clock.nowMs()
            let response = try await store.write { db -> Crm_Opportunities_V1_CreateOpportunityResponse in
                if !request.leadId.isEmpty, let existing = try OpportunityTable.find(db, leadID: request.leadId) {
                    guard caller.canSee(ownerID: existing.ownerId, teamID: existing.teamId) else {
                        throw RPCError(.alreadyExists, "lead \(request.leadId) was already converted to an opportunity")
                    }
                    let task = try TaskTable.find(db, id: existing.nextStepTaskId)
                    return .init(opportunity: OpportunityWrite.presented(existing, now: now), nextTask: task, replayed: true)
                }
                let (stored, replayed) = try Idempotency.run(
                    db, scope: Self.createScope, requestID: request.requestId, request: request, nowMs: now
                ) { () throws -> Crm_Opportunities_V1_CreateOpportunityResponse in
                    let c = writeContext(db, now: now, caller: caller, requestID: request.requestId)
                    return try Self.insertOpportunity(input, request: request, owner: owner, team: team,
                                                      names: names, c)
                }
                var response = stored
                response.replayed = replayed
                return response
            }
            relay?.wake()
            return response
        }
    }

    /// Builds and stores the new opportunity, its first next-step task and its stage entry.
    private static func insertOpportunity(_ input: NewOpportunity, request: Crm_Opportunities_V1_CreateOpportunityRequest,
                                          owner: String, team: String, names: (customer: String, keyPerson: String),
                                          _ c: WriteContext) throws -> Crm_Opportunities_V1_CreateOpportunityResponse {
        let settings = try SettingsStore.load(c.db)
        var o = Opportunity()
        o.id = RecordID.make("opp", nowMs: c.now)
        o.customerId = input.customerID
        o.customerName = names.customer
        o.leadId = request.leadId.trimmed
        o.source = request.source
        o.sourceDetail = request.sourceDetail.trimmed
        o.title = input.title
        o.amountCents = input.amountCents
        o.currency = input.currency
        o.keyPersonContactId = input.keyPersonContactID
        o.keyPersonName = names.keyPerson
        o.need = input.need
        o.budgetCents = input.budgetCents
        o.expectedCloseDate = input.expectedCloseDate
        o.competitors = input.competitors
        o.noCompetitors = input.noCompetitors
        o.ownerId = owner
        o.teamId = team
        o.stage = input.initialStage
        o.status = .open
        o.stageEnteredAtMs = c.now
        StageFactsInput.apply(request.facts, to: &o)
        o.quoted = (StageLadder.rank(o.stage) ?? 0) >= (StageLadder.rank(.quote) ?? 0)
        o.lastActionAtMs = c.now
        o.createdBy = c.actorID
        o.createdAtMs = c.now

        let task = TaskBook.newTask(owner: owner, team: team, title: input.nextStep, dueMs: input.nextStepDueMs,
                                    origin: .opportunityCreated, opportunityID: o.id, customerID: o.customerId, c)
        try TaskTable.save(c.db, task)
        TaskBook.makeNextStep(task, of: &o)

        // The entry into the first stage, so time in stage is measurable from creation.
        try StageChangeTable.insert(c.db, StageChange(
            id: RecordID.make("stg", nowMs: c.now), opportunityId: o.id, fromStage: .unspecified, toStage: o.stage,
            actorId: c.actorID, atMs: c.now, reason: "created",
            skippedStages: Array(StageLadder.open.prefix(StageLadder.rank(o.stage) ?? 0))))

        try OpportunityWrite.commit(&o, settings: settings, c)
        var event = EventOutbox.about(o, kind: .opportunityCreated, c)
        event.opportunityCreated = Crm_Events_V1_OpportunityCreatedPayload(
            title: o.title, ownerId: o.ownerId, amountCents: o.amountCents, currency: o.currency, stage: o.stage,
            expectedCloseDate: o.expectedCloseDate, source: o.source)
        try EventOutbox.enqueue(event, c)
        return .init(opportunity: o, nextTask: task, replayed: false)
    }

    /// One opportunity, optionally with its stage history and open tasks.
    public func getOpportunity(_ request: Crm_Opportunities_V1_GetOpportunityRequest, context: ServerContext) async throws
        -> Crm_Opportunities_V1_GetOpportunityResponse {
        try await guarded {
            let caller = try Access.userOrSystem(context)
            var errors = FieldErrors()
            errors.require("opportunity_id", request.opportunityId)
            try errors.throwIfAny()
            let now = clock.nowMs()
            return try await store.read { db in
                let o = try Access.visibleOpportunity(db, id: request.opportunityId, caller: caller)
                return .init(
                    opportunity: OpportunityWrite.presented(o, now: now),
                    stageHistory: request.includeStageHistory ? try StageChangeTable.history(db, opportunityID: o.id) : [],
                    openTasks: request.includeOpenTasks ? try TaskTable.open(db, opportunityID: o.id) : [])
            }
        }
    }

    /// R3 facts update, optimistic by version. R3 facts can be changed, never cleared; the key person can
    /// be reported as gone (key_person_left), which raises R8 KEY_PERSON_MISSING.
    public func updateOpportunity(_ request: Crm_Opportunities_V1_UpdateOpportunityRequest, context: ServerContext) async throws
        -> Crm_Opportunities_V1_UpdateOpportunityResponse {
        try await guarded {
            let caller = try Access.user(context)
            try UpdateRules.validate(request)
            let newOwner = request.ownerId?.trimmed
            let current = try await store.read { db in
                try Access.visibleOpportunity(db, id: request.opportunityId, caller: caller)
            }
            let newTeam: String?
            if let newOwner, newOwner != current.ownerId {
                try caller.requireManager("changing an opportunity's owner")
                newTeam = try await ownerTeam(newOwner, caller: caller)
            } else {
                newTeam = nil
            }
            let keyPersonName: String?
            if let contactID = request.keyPersonContactId?.trimmed, contactID != current.keyPersonContactId {
                keyPersonName = try await checkCustomerAndKeyPerson(customerID: current.customerId, contactID: contactID,
                                                                     caller: caller, checkCustomer: false).keyPerson
            } else {
                keyPersonName = nil
            }
            let now = clock.nowMs()
            let updated = try await store.write { db -> Opportunity in
                let c = writeContext(db, now: now, caller: caller)
                var o = try Access.visibleOpportunity(db, id: request.opportunityId, caller: caller)
                try Access.requireVersion(request.version, current: o.version, of: "opportunity \(o.id)")
                try Self.requireOpen(o)
                try UpdateRules.apply(request, to: &o, keyPersonName: keyPersonName)
                if let newOwner, let newTeam, newOwner != o.ownerId {
                    try Self.reassign(&o, to: newOwner, team: newTeam, c)
                }
                try OpportunityWrite.commit(&o, settings: try SettingsStore.load(db), c)
                return o
            }
            relay?.wake()
            return .init(opportunity: OpportunityWrite.presented(updated, now: now))
        }
    }

    /// Moves an opportunity and its open tasks to a new owner (history stays: company asset).
    static func reassign(_ o: inout Opportunity, to owner: String, team: String, _ c: WriteContext) throws {
        for var task in try TaskTable.open(c.db, opportunityID: o.id) where task.ownerId == o.ownerId {
            task.ownerId = owner
            task.teamId = team
            task.version += 1
            task.updatedAtMs = c.now
            try TaskTable.save(c.db, task)
        }
        o.ownerId = owner
        o.teamId = team
    }

    /// FAILED_PRECONDITION for a closed deal.
    static func requireOpen(_ o: Opportunity) throws {
        guard o.status == .open else {
            throw RPCError(.failedPrecondition, "opportunity \(o.id) is \(StageLadder.label(o.stage)); a closed deal is not changed")
        }
    }

    static func isStored(_ db: Database, scope: String, requestID: String) throws -> Bool {
        guard !requestID.isEmpty else { return false }
        return try Bool.fetchOne(db, sql: "SELECT 1 FROM idempotency WHERE scope = ? AND request_id = ?",
                                 arguments: [scope, requestID]) ?? false
    }
}
