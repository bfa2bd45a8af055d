import CRMProto
import GRDB
import RPCCore
import ServiceRuntime

extension CustomerHandler {
    /// ReassignOwner (manager/admin): a new responsible owner. Customer data is a company asset, so
    /// contacts, transitions and the timeline all stay; the previous owner may stay on as a collaborator.
    func reassignOwner(_ request: Crm_Customers_V1_ReassignOwnerRequest, context: ServerContext) async throws
        -> Crm_Customers_V1_ReassignOwnerResponse {
        let caller = try Access.caller(context)
        var errors = FieldErrors()
        let id = errors.identifier("customer_id", request.customerId)
        if request.version <= 0 { errors.add("version", "required (the version being changed)") }
        let newOwner = errors.identifier("new_owner_id", request.newOwnerId)
        let reason = errors.text("reason", request.reason, max: Limits.reason)
        try errors.throwIfAny()

        let current = try await read { db in try Access.visibleCustomer(db, id: id, caller: caller) }
        try Access.requireTeamManager(caller, current.customer, "reassigning a customer's owner")
        let newTeam = try await teamOfOwner(newOwner, field: "new_owner_id", caller: caller,
                                            fallbackTeam: current.customer.teamId)
        let now = clock.nowMs()
        let customer = try await write { db -> Customer in
            var stored = try Access.visibleCustomer(db, id: id, caller: caller)
            try Access.checkVersion(request.version, current: stored.customer.version, record: "customer \(id)")
            let previous = stored.customer.ownerId
            guard newOwner != previous else {
                throw RPCError(.failedPrecondition, "new_owner_id: \(newOwner) already owns customer \(id)")
            }
            var c = stored.customer
            c.ownerId = newOwner
            c.teamId = newTeam
            c.collaboratorIds.removeAll { $0 == newOwner }
            if request.keepPreviousAsCollaborator, !c.collaboratorIds.contains(previous) {
                c.collaboratorIds.append(previous)
            }
            c.version += 1
            c.updatedAtMs = now
            stored.customer = c
            try stored.save(db)
            try stored.syncCollaborators(db)
            var entry = Audit.entry(.ownerChanged, customerID: id, actor: caller.userID, atMs: now,
                                    summary: "Owner \(previous) → \(newOwner)" + (reason.isEmpty ? "" : ": \(reason)"))
            entry.fromOwnerId = previous
            entry.toOwnerId = newOwner
            try Audit.record(db, entry)
            try OutboundEvents.ownerChanged(db, customer: c, from: previous, reason: reason, actor: caller, nowMs: now)
            return c
        }
        wakeRelay()
        return Crm_Customers_V1_ReassignOwnerResponse(customer: customer, previousOwnerId: current.customer.ownerId)
    }

    /// AddCollaborator (owner, manager or admin): the user gains visibility of the customer.
    func addCollaborator(_ request: Crm_Customers_V1_AddCollaboratorRequest, context: ServerContext) async throws
        -> Crm_Customers_V1_AddCollaboratorResponse {
        let change = try CollaboratorChange(request.customerId, request.version, request.userId, request.reason)
        let customer = try await changeCollaborators(change, context: context, kind: .collaboratorAdded) { c in
            guard change.userID != c.ownerId else {
                throw RPCError(.invalidArgument, "user_id: \(change.userID) is the owner of customer \(c.id)")
            }
            guard !c.collaboratorIds.contains(change.userID) else {
                throw RPCError(.failedPrecondition, "user_id: \(change.userID) already collaborates on customer \(c.id)")
            }
            guard c.collaboratorIds.count < Limits.collaborators else {
                throw RPCError(.failedPrecondition, "customer \(c.id) already has \(Limits.collaborators) collaborators")
            }
            c.collaboratorIds.append(change.userID)
        }
        return Crm_Customers_V1_AddCollaboratorResponse(customer: customer)
    }

    /// RemoveCollaborator (owner, manager, admin, or the collaborator themselves); their past
    /// interactions stay on the timeline.
    func removeCollaborator(_ request: Crm_Customers_V1_RemoveCollaboratorRequest, context: ServerContext) async throws
        -> Crm_Customers_V1_RemoveCollaboratorResponse {
        let change = try CollaboratorChange(request.customerId, request.version, request.userId, request.reason)
        let customer = try await changeCollaborators(change, context: context, kind: .collaboratorRemoved) { c in
            guard c.collaboratorIds.contains(change.userID) else {
                throw RPCError(.failedPrecondition, "user_id: \(change.userID) does not collaborate on customer \(c.id)")
            }
            c.collaboratorIds.removeAll { $0 == change.userID }
        }
        return Crm_Customers_V1_RemoveCollaboratorResponse(customer: customer)
    }

    /// The validated fields of Add/RemoveCollaborator.
    struct CollaboratorChange: Sendable {
        let customerID: String, version: Int64, userID: String, reason: String

        init(_ customerID: String, _ version: Int64, _ userID: String, _ reason: String) throws {
            var errors = FieldErrors()
            self.customerID = errors.identifier("customer_id", customerID)
            if version <= 0 { errors.add("version", "required (the version being changed)") }
            self.version = version
            self.userID = errors.identifier("user_id", userID)
            self.reason = errors.text("reason", reason, max: Limits.reason)
            try errors.throwIfAny()
        }
    }

    private func changeCollaborators(_ change: CollaboratorChange, context: ServerContext,
                                     kind: Crm_Customers_V1_TimelineEntryKind,
                                     _ mutate: @Sendable @escaping (inout Customer) throws -> Void) async throws -> Customer {
        let caller = try Access.caller(context)
        let now = clock.nowMs()
        return try await write { db -> Customer in
            var stored = try Access.visibleCustomer(db, id: change.customerID, caller: caller)
            let removingSelf = kind == .collaboratorRemoved && change.userID == caller.userID
            if !removingSelf {
                try Access.requireOwnerOrManager(caller, stored.customer, "changing collaborators")
            }
            try Access.checkVersion(change.version, current: stored.customer.version, record: "customer \(change.customerID)")
            try mutate(&stored.customer)
            stored.customer.version += 1
            stored.customer.updatedAtMs = now
            try stored.save(db)
            try stored.syncCollaborators(db)
            let verb = kind == .collaboratorAdded ? "added" : "removed"
            try Audit.record(db, Audit.entry(kind, customerID: change.customerID, actor: caller.userID, atMs: now,
                                             summary: "Collaborator \(change.userID) \(verb)"
                                                 + (change.reason.isEmpty ? "" : ": \(change.reason)")))
            return stored.customer
        }
    }

    /// MarkKey (R7): mark or unmark a key customer with a reason. Marking sets grade KEY; unmarking
    /// restores grade_after_unmark or the grade before marking.
    func markKey(_ request: Crm_Customers_V1_MarkKeyRequest, context: ServerContext) async throws
        -> Crm_Customers_V1_MarkKeyResponse {
        let caller = try Access.caller(context)
        var errors = FieldErrors()
        let id = errors.identifier("customer_id", request.customerId)
        if request.version <= 0 { errors.add("version", "required (the version being changed)") }
        let reason = errors.text("reason", request.reason, max: Limits.reason, required: true)
        let gradeAfter = request.key ? nil : CustomerProfile.grade("grade_after_unmark", request.gradeAfterUnmark, errors: &errors)
        try errors.throwIfAny()

        let now = clock.nowMs()
        let customer = try await write { db -> Customer in
            var stored = try Access.visibleCustomer(db, id: id, caller: caller)
            try Access.requireOwnerOrManager(caller, stored.customer, "marking a key customer")
            try Access.requireActive(stored.customer)
            try Access.checkVersion(request.version, current: stored.customer.version, record: "customer \(id)")
            var c = stored.customer
            if request.key {
                guard !c.key else { throw ruleViolation("R7", "customer \(id) is already a key customer") }
                stored.gradeBeforeKey = c.grade
                c.grade = .key
                c.key = true
                c.keyReason = reason
                c.keyMarkedAtMs = now
                c.keyMarkedBy = caller.userID
            } else {
                guard c.key else { throw ruleViolation("R7", "customer \(id) is not a key customer") }
                let restored = gradeAfter ?? stored.gradeBeforeKey
                c.grade = [.a, .b, .c].contains(restored) ? restored : .c
                c.key = false
                c.keyReason = ""
                c.keyMarkedAtMs = 0
                c.keyMarkedBy = ""
            }
            c.version += 1
            c.updatedAtMs = now
            stored.customer = c
            try stored.save(db)
            try Audit.record(db, Audit.entry(request.key ? .keyMarked : .keyUnmarked, customerID: id, actor: caller.userID,
                                             atMs: now, summary: (request.key ? "Marked key: " : "Unmarked key: ") + reason))
            try OutboundEvents.keyChanged(db, customer: c, reason: reason, actor: caller, nowMs: now)
            return c
        }
        return Crm_Customers_V1_MarkKeyResponse(customer: customer)
    }
}
