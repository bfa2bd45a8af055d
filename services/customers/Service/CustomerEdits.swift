import CRMProto
import GRDB
import RPCCore
import ServiceRuntime

extension CustomerHandler {
    /// UpdateCustomer: partial profile update at a named version; a rename or new phone/email that
    /// matches another customer needs force; grade KEY only through MarkKey (R7).
    func updateCustomer(_ request: Crm_Customers_V1_UpdateCustomerRequest, context: ServerContext) async throws
        -> Crm_Customers_V1_UpdateCustomerResponse {
        let caller = try Access.caller(context)
        var errors = FieldErrors()
        let id = errors.identifier("customer_id", request.customerId)
        if request.version <= 0 { errors.add("version", "required (the version being changed)") }
        let name = request.name.map { errors.text("name", $0, max: Limits.name, required: true) }
        let industry = request.industry.map { errors.text("industry", $0, max: Limits.shortText) }
        let region = request.region.map { errors.text("region", $0, max: Limits.shortText) }
        if let size = request.size { errors.known("size", size) }
        let tags = request.tags.map { errors.tags("tags", $0.values) }
        let website = request.website.map { errors.text("website", $0, max: Limits.longText) }
        let address = request.address.map { errors.text("address", $0, max: Limits.longText) }
        let notes = request.notes.map { errors.note("notes", $0, max: Limits.notes) }
        let phone = request.phone.map { errors.phone("phone", $0) }
        let email = request.email.map { errors.email("email", $0) }
        var requestedGrade: CustomerGrade?
        if let requested = request.grade {
            requestedGrade = CustomerProfile.grade("grade", requested, errors: &errors)
            if requested == .unspecified { errors.add("grade", "must be A, B or C") }
        }
        let grade = requestedGrade
        let sourceDetail = request.sourceDetail.map { errors.text("source_detail", $0, max: Limits.longText) }
        let forceReason = request.force
            ? errors.text("force_reason", request.forceReason, max: Limits.reason, required: true) : ""
        try errors.throwIfAny()

        let now = clock.nowMs()
        let customer = try await write { db -> Customer in
            var stored = try Access.visibleCustomer(db, id: id, caller: caller)
            try Access.requireActive(stored.customer)
            try Access.checkVersion(request.version, current: stored.customer.version, record: "customer \(id)")
            let before = stored.customer
            var c = stored.customer
            if let name { c.name = name }
            if let industry { c.industry = industry }
            if let region { c.region = region }
            if let size = request.size { c.size = size }
            if let tags { c.tags = tags }
            if let website { c.website = website }
            if let address { c.address = address }
            if let notes { c.notes = notes }
            if let phone { c.phone = phone }
            if let email { c.email = email }
            if let sourceDetail { c.sourceDetail = sourceDetail }
            if let grade, grade != c.grade {
                guard c.grade != .key else {
                    throw ruleViolation("R7", "customer \(id) is a key customer; unmark it with MarkKey and a reason before regrading")
                }
                c.grade = grade
                stored.gradeBeforeKey = grade
            }
            let changed = ProfileDiff.changedFields(before, c)
            guard !changed.isEmpty else { return before }

            let renamed = NameKey.duplicateKey(c.name) != NameKey.duplicateKey(before.name)
            let matches = try DuplicateGuard.find(
                db, name: renamed ? c.name : nil, phones: c.phone != before.phone ? [c.phone] : [],
                emails: c.email != before.email ? [c.email] : [], excluding: id)
            if !matches.isEmpty, !request.force { throw DuplicateGuard.refusal(matches) }

            c.version += 1
            c.updatedAtMs = now
            stored.customer = c
            try stored.save(db)
            if c.tags != before.tags { try stored.syncTags(db) }
            var summary = "Updated \(changed.joined(separator: ", "))"
            if !matches.isEmpty {
                summary += "; duplicate guard overridden (\(Set(matches.map(\.customerId)).sorted().joined(separator: ", "))): \(forceReason)"
            }
            try Audit.record(db, Audit.entry(.updated, customerID: id, actor: caller.userID, atMs: now, summary: summary))
            return c
        }
        return Crm_Customers_V1_UpdateCustomerResponse(customer: customer)
    }

    /// ArchiveCustomer: hidden from default lists, never deleted (company asset). Refused while open
    /// opportunities or tickets exist unless forced.
    func archiveCustomer(_ request: Crm_Customers_V1_ArchiveCustomerRequest, context: ServerContext) async throws
        -> Crm_Customers_V1_ArchiveCustomerResponse {
        let caller = try Access.caller(context)
        var errors = FieldErrors()
        let id = errors.identifier("customer_id", request.customerId)
        if request.version <= 0 { errors.add("version", "required (the version being changed)") }
        let reason = errors.text("reason", request.reason, max: Limits.reason, required: true)
        try errors.throwIfAny()

        let now = clock.nowMs()
        let customer = try await write { db -> Customer in
            var stored = try Access.visibleCustomer(db, id: id, caller: caller)
            try Access.requireOwnerOrManager(caller, stored.customer, "archiving a customer")
            try Access.checkVersion(request.version, current: stored.customer.version, record: "customer \(id)")
            guard !stored.customer.archived else {
                throw RPCError(.failedPrecondition, "customer \(id) is already archived")
            }
            let c = stored.customer
            if (c.openOpportunityCount > 0 || c.openTicketCount > 0), !request.force {
                throw RPCError(.failedPrecondition, "customer \(id) has \(c.openOpportunityCount) open opportunities and \(c.openTicketCount) open tickets; close them first or archive with force")
            }
            stored.customer.archived = true
            stored.customer.archivedAtMs = now
            stored.customer.archiveReason = reason
            stored.customer.version += 1
            stored.customer.updatedAtMs = now
            try stored.save(db)
            try Audit.record(db, Audit.entry(.archived, customerID: id, actor: caller.userID, atMs: now,
                                             summary: "Archived: \(reason)" + (request.force ? " (forced)" : "")))
            try OutboundEvents.archived(db, customer: stored.customer, reason: reason, actor: caller, nowMs: now)
            return stored.customer
        }
        wakeRelay()
        return Crm_Customers_V1_ArchiveCustomerResponse(customer: customer)
    }

    /// ChangeLifecycle: an allowed manual move of line 2 (others FAILED_PRECONDITION), with a reason for
    /// backward moves and CHURNED, recorded with who/when/why; answers the next recommended action.
    func changeLifecycle(_ request: Crm_Customers_V1_ChangeLifecycleRequest, context: ServerContext) async throws
        -> Crm_Customers_V1_ChangeLifecycleResponse {
        let caller = try Access.caller(context)
        var errors = FieldErrors()
        let id = errors.identifier("customer_id", request.customerId)
        if request.version <= 0 { errors.add("version", "required (the version being changed)") }
        errors.known("to_status", request.toStatus, allowUnspecified: false)
        let reason = errors.text("reason", request.reason, max: Limits.reason)
        try errors.throwIfAny()

        let now = clock.nowMs()
        let response = try await write { db -> Crm_Customers_V1_ChangeLifecycleResponse in
            var stored = try Access.visibleCustomer(db, id: id, caller: caller)
            try Access.requireActive(stored.customer)
            try Access.checkVersion(request.version, current: stored.customer.version, record: "customer \(id)")
            let from = stored.customer.lifecycleStatus, to = request.toStatus
            let allowed = Lifecycle.allowedTransitions(from: from)
            guard allowed.contains(to) else {
                throw ruleViolation("line 2", "a customer cannot move from \(Lifecycle.name(from)) to \(Lifecycle.name(to)); allowed from \(Lifecycle.name(from)): \(allowed.map(Lifecycle.name).joined(separator: ", "))")
            }
            if Lifecycle.needsReason(from: from, to: to), reason.isEmpty {
                throw RPCError(.invalidArgument, to == .churned
                    ? "reason: required to mark a customer CHURNED"
                    : "reason: required to move back from \(Lifecycle.name(from)) to \(Lifecycle.name(to))")
            }
            let transition = LifecycleTransition(fromStatus: from, toStatus: to, actorId: caller.userID, atMs: now,
                                                 reason: reason, trigger: .manual)
            try Audit.changeStatus(db, &stored, transition)
            stored.customer.version += 1
            stored.customer.updatedAtMs = now
            try stored.save(db)
            try OutboundEvents.statusChanged(db, customer: stored.customer, transition: transition, actor: caller, nowMs: now)
            return Crm_Customers_V1_ChangeLifecycleResponse(
                customer: stored.customer, transition: transition, nextAction: Lifecycle.nextAction(for: to),
                allowedTransitions: Lifecycle.allowedTransitions(from: to))
        }
        wakeRelay()
        return response
    }
}

/// Names of the profile fields an update changed, for the audit trail.
enum ProfileDiff {
    static func changedFields(_ a: Customer, _ b: Customer) -> [String] {
        var fields: [String] = []
        if a.name != b.name { fields.append("name") }
        if a.industry != b.industry { fields.append("industry") }
        if a.region != b.region { fields.append("region") }
        if a.size != b.size { fields.append("size") }
        if a.tags != b.tags { fields.append("tags") }
        if a.website != b.website { fields.append("website") }
        if a.address != b.address { fields.append("address") }
        if a.notes != b.notes { fields.append("notes") }
        if a.phone != b.phone { fields.append("phone") }
        if a.email != b.email { fields.append("email") }
        if a.grade != b.grade { fields.append("grade") }
        if a.sourceDetail != b.sourceDetail { fields.append("source_detail") }
        return fields
    }
}
