import CRMProto
import GRDB
import RPCCore
import ServiceRuntime

/// CreateTicket: a service request from a customer or a manual ticket, idempotent by request_id.
extension TicketService {
    func createTicket(_ request: Crm_Tickets_V1_CreateTicketRequest, context: ServerContext) async throws
        -> Crm_Tickets_V1_CreateTicketResponse {
        let caller = try Caller(context: context)
        let now = clock.nowMs()
        let scope = "CreateTicket/\(caller.userID)"

        // A replay answers from the idempotency table as the first call was answered, even if its
        // input would no longer pass today (a due date that has passed since); only a first call is
        // validated and needs the peers.
        let (isReplay, localCustomer) = try await read { db in
            (try Self.isReplay(db, scope: scope, requestID: request.requestId),
             try Self.localCustomer(db, id: request.customerId))
        }
        var plan: NewTicketPlan?
        if !isReplay {
            let input = try NewTicketInput(request, now: now)
            var customer = localCustomer, confirmed = false
            switch await directory.customer(input.customerID, as: caller) {
            case .found(let facts):
                customer = facts
                confirmed = true
            case .notFound:
                throw RPCError(.notFound, "customer_id: no customer '\(input.customerID)'")
            case .unavailable:
                break  // crm-customers is down: open the ticket with what is known locally.
            }
            let owner = try await chooseOwner(input, caller: caller, customer: customer)
            plan = NewTicketPlan(input: input, customer: customer, customerConfirmed: confirmed, owner: owner)
        }
        let firstCall = plan
        let (response, replayed) = try await write { db in
            try Idempotency.run(db, scope: scope, requestID: request.requestId, request: request, nowMs: now) {
                // Only reached without a stored answer; a key first stored between the read and now is
                // answered by Idempotency.run above, so a missing plan means the store changed under us.
                guard let plan = firstCall else {
                    throw RPCError(.aborted, "request_id: '\(request.requestId)' changed while it was being replayed; retry")
                }
                let input = plan.input
                if plan.customerConfirmed, let facts = plan.customer {
                    try Self.rememberCustomer(db, id: input.customerID, name: facts.name, ownerID: facts.ownerID,
                                              teamID: facts.teamID, now: now)
                }
                let settings = try SettingsStore.load(db)
                var ticket = TicketRecord.new(
                    id: RecordID.make("tkt", nowMs: now), kind: input.kind, customerID: input.customerID,
                    customerName: plan.customer?.name ?? "", opportunityID: input.opportunityID, title: input.title,
                    details: input.details, priority: input.priority, ownerID: plan.owner.id, teamID: plan.owner.team,
                    dueMs: input.dueMs, origin: input.origin, templateStep: "", createdBy: caller.userID, now: now,
                    target: settings.target(for: input.priority))
                ticket.recordBreaches(at: now)
                try ticket.insert(db)
                _ = try Self.recordTransition(db, ticketID: ticket.id, from: .unspecified, to: .open,
                                              actor: caller.userID, at: now, reason: "opened")
                try TicketEvents.opened(db, ticket, by: .init(caller, requestID: request.requestId), now: now)
                return Crm_Tickets_V1_CreateTicketResponse(ticket: ticket.proto(at: now))
            }
        }
        var answer = response
        answer.replayed = replayed
        return answer
    }

    static func isReplay(_ db: Database, scope: String, requestID: String) throws -> Bool {
        guard !requestID.isEmpty else { return false }
        return try Bool.fetchOne(db, sql: "SELECT 1 FROM idempotency WHERE scope = ? AND request_id = ?",
                                 arguments: [scope, requestID]) ?? false
    }

    /// What crm-tickets already knows about a customer (from earlier lookups and events).
    static func localCustomer(_ db: Database, id: String) throws -> Directory.CustomerFacts? {
        try Row.fetchOne(db, sql: "SELECT name, owner_id, team_id FROM customers WHERE customer_id = ?",
                         arguments: [TicketFields.trimmed(id)]).map {
            Directory.CustomerFacts(name: $0["name"], ownerID: $0["owner_id"], teamID: $0["team_id"])
        }
    }

    /// A validated first CreateTicket with what the peers said, ready to be written.
    struct NewTicketPlan: Sendable {
        var input: NewTicketInput
        var customer: Directory.CustomerFacts?
        var customerConfirmed: Bool
        var owner: Owner
    }

    struct Owner: Sendable {
        var id: String
        var team: String
    }

    /// The owner: as asked (a rep only themselves or the customer's owner), else the customer's owner
    /// for a customer request, else the caller. The team comes from what is known about that user.
    private func chooseOwner(_ input: NewTicketInput, caller: Caller,
                             customer: Directory.CustomerFacts?) async throws -> Owner {
        let customerOwner = customer?.ownerID ?? ""
        var ownerID = input.ownerID
        if ownerID.isEmpty {
            ownerID = input.origin == .customerRequest && !customerOwner.isEmpty ? customerOwner : caller.userID
        }
        if ownerID == caller.userID { return Owner(id: ownerID, team: caller.team) }
        if caller.role == .rep && ownerID != customerOwner {
            throw RPCError(.permissionDenied, "owner_id: a rep may open tickets only for themselves or the customer's owner; \(caller.userID) asked for \(ownerID)")
        }
        if ownerID == customerOwner, let team = customer?.teamID, !team.isEmpty {
            return Owner(id: ownerID, team: team)
        }
        switch await directory.team(of: ownerID) {
        case .found(let team): return Owner(id: ownerID, team: team)
        case .notFound: throw RPCError(.invalidArgument, "owner_id: no user '\(ownerID)'")
        case .unavailable: return Owner(id: ownerID, team: caller.team)
        }
    }
}

/// A CreateTicket request after validation (INVALID_ARGUMENT naming every field) and defaults.
struct NewTicketInput: Sendable {
    var kind: TicketKind
    var customerID: String
    var opportunityID: String
    var title: String
    var details: String
    var priority: TicketPriority
    var ownerID: String
    var dueMs: Int64
    var origin: TicketOrigin

    init(_ request: Crm_Tickets_V1_CreateTicketRequest, now: Int64) throws {
        var errors = FieldErrors()
        errors.maxLength("request_id", request.requestId, TicketFields.maxID)
        if !TicketFields.isKnown(request.kind) {
            errors.add("kind", "required: DELIVERY, TRAINING, SERVICE_REQUEST, RETURN_VISIT or REPURCHASE")
        }
        customerID = errors.require("customer_id", request.customerId)
        errors.checkID("customer_id", customerID)
        opportunityID = TicketFields.trimmed(request.opportunityId)
        errors.checkID("opportunity_id", opportunityID)
        title = errors.require("title", request.title)
        errors.maxLength("title", title, TicketFields.maxTitle)
        details = request.details
        errors.maxLength("details", details, TicketFields.maxDetails)
        priority = request.priority == .unspecified ? .normal : request.priority
        if !TicketFields.isKnown(priority) { errors.add("priority", "must be LOW, NORMAL, HIGH or URGENT") }
        ownerID = TicketFields.trimmed(request.ownerId)
        errors.checkID("owner_id", ownerID)
        errors.checkInstant("due_ms", request.dueMs)
        if request.dueMs > 0, request.dueMs <= now { errors.add("due_ms", "must be in the future") }
        dueMs = request.dueMs
        switch request.origin {
        case .unspecified: origin = request.kind == .serviceRequest ? .customerRequest : .manual
        case .manual, .customerRequest: origin = request.origin
        case .onboarding:
            origin = .onboarding
            errors.add("origin", "ONBOARDING tickets are opened by won deals, not by CreateTicket")
        case .unrecognized:
            origin = .manual
            errors.add("origin", "must be MANUAL or CUSTOMER_REQUEST")
        }
        kind = request.kind
        try errors.throwIfAny()
    }
}

extension TicketRecord {
    /// A fresh OPEN ticket with its SLA clocks started at `now`; without a due date it is due at the
    /// SLA resolution target.
    static func new(id: String, kind: TicketKind, customerID: String, customerName: String, opportunityID: String,
                    title: String, details: String, priority: TicketPriority, ownerID: String, teamID: String,
                    dueMs: Int64, origin: TicketOrigin, templateStep: String, createdBy: String, now: Int64,
                    target: SlaTarget) -> TicketRecord {
        var ticket = TicketRecord(
            id: id, version: 1, kind: kind, customerID: customerID, customerName: customerName,
            opportunityID: opportunityID, title: title, details: details, priority: priority, ownerID: ownerID,
            teamID: teamID, dueMs: dueMs, dueExplicit: dueMs > 0, status: .open, origin: origin,
            templateStep: templateStep, resolution: "", resolvedAtMs: 0, closedAtMs: 0, reopenCount: 0,
            returnVisit: nil, commentCount: 0, createdBy: createdBy, createdAtMs: now, updatedAtMs: now,
            responseDueMs: 0, resolutionDueMs: 0, warnBeforeMs: 0, firstResponseAtMs: 0, pausedMs: 0,
            waitingSinceMs: 0, responseBreachedAtMs: nil, resolutionBreachedAtMs: nil,
            sweptResponseState: .onTrack, sweptResolutionState: .onTrack)
        ticket.applyTargets(target)
        if dueMs <= 0 { ticket.dueMs = ticket.resolutionDueMs }
        return ticket
    }
}
