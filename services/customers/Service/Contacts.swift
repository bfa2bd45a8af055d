import CRMProto
import GRDB
import RPCCore
import ServiceRuntime

extension CustomerHandler {
    /// AddContact: a contact with a role in the decision chain, validated phone/email and the key-person
    /// flag (R3/R8); idempotent by request_id.
    func addContact(_ request: Crm_Customers_V1_AddContactRequest, context: ServerContext) async throws
        -> Crm_Customers_V1_AddContactResponse {
        let caller = try Access.caller(context)
        var errors = FieldErrors()
        let requestID = errors.identifier("request_id", request.requestId, required: false)
        let customerID = errors.identifier("customer_id", request.customerId)
        let profile = ContactProfile(request.contact ?? .init(), field: "contact.", errors: &errors)
        try errors.throwIfAny()

        let now = clock.nowMs()
        let response = try await write { db -> Crm_Customers_V1_AddContactResponse in
            let stored = try Access.visibleCustomer(db, id: customerID, caller: caller)
            try Access.requireActive(stored.customer)
            let result = try Idempotency.run(db, scope: "AddContact", requestID: requestID, request: request, nowMs: now) {
                () throws -> Crm_Customers_V1_AddContactResponse in
                let contact = profile.contact(id: RecordID.make("ctc", nowMs: now), customerID: customerID, nowMs: now)
                try contact.insert(db)
                var entry = Audit.entry(.contactAdded, customerID: customerID, actor: caller.userID, atMs: now,
                                        summary: ContactText.summary(contact))
                entry.contactId = contact.id
                try Audit.record(db, entry)
                if contact.keyPerson {
                    try OutboundEvents.keyPersonChanged(db, customer: stored.customer, contact: contact, actor: caller,
                                                        requestID: requestID, nowMs: now)
                }
                return Crm_Customers_V1_AddContactResponse(contact: contact, replayed: false)
            }
            var response = result.response
            response.replayed = result.replayed
            return response
        }
        wakeRelay()
        return response
    }

    /// GetContact: one contact of a customer the caller sees (crm-opportunities checks key persons, R3).
    func getContact(_ request: Crm_Customers_V1_GetContactRequest, context: ServerContext) async throws
        -> Crm_Customers_V1_GetContactResponse {
        let caller = try Access.caller(context)
        let id = try requiredID("contact_id", request.contactId)
        let contact = try await read { db in try ContactText.visibleContact(db, id: id, caller: caller).contact }
        return Crm_Customers_V1_GetContactResponse(contact: contact)
    }

    /// UpdateContact: partial update at the contact's version; a contact keeps at least one phone or email.
    func updateContact(_ request: Crm_Customers_V1_UpdateContactRequest, context: ServerContext) async throws
        -> Crm_Customers_V1_UpdateContactResponse {
        let caller = try Access.caller(context)
        var errors = FieldErrors()
        let id = errors.identifier("contact_id", request.contactId)
        if request.version <= 0 { errors.add("version", "required (the version being changed)") }
        let name = request.name.map { errors.text("name", $0, max: Limits.name, required: true) }
        let jobTitle = request.jobTitle.map { errors.text("job_title", $0, max: Limits.shortText) }
        if let role = request.role { errors.known("role", role) }
        let phone = request.phone.map { errors.phone("phone", $0) }
        let email = request.email.map { errors.email("email", $0) }
        let notes = request.notes.map { errors.note("notes", $0, max: Limits.notes) }
        try errors.throwIfAny()

        let now = clock.nowMs()
        let contact = try await write { db -> Contact in
            let (stored, before) = try ContactText.visibleContact(db, id: id, caller: caller)
            try Access.requireActive(stored.customer)
            try Access.checkVersion(request.version, current: before.version, record: "contact \(id)")
            var c = before
            if let name { c.name = name }
            if let jobTitle { c.jobTitle = jobTitle }
            if let role = request.role { c.role = role }
            if let phone { c.phone = phone }
            if let email { c.email = email }
            if let keyPerson = request.keyPerson { c.keyPerson = keyPerson }
            if let notes { c.notes = notes }
            if let archived = request.archived { c.archived = archived }
            if c.phone.isEmpty, c.email.isEmpty {
                throw RPCError(.invalidArgument, "phone: a contact keeps a phone or an email; email: a contact keeps a phone or an email")
            }
            let changed = ContactText.changedFields(before, c)
            guard !changed.isEmpty else { return before }
            c.version += 1
            c.updatedAtMs = now
            try c.save(db)
            var entry = Audit.entry(.contactUpdated, customerID: c.customerId, actor: caller.userID, atMs: now,
                                    summary: "Contact \(c.name): \(changed.joined(separator: ", ")) changed")
            entry.contactId = c.id
            try Audit.record(db, entry)
            if c.keyPerson != before.keyPerson || (before.keyPerson && c.archived != before.archived) {
                try OutboundEvents.keyPersonChanged(db, customer: stored.customer, contact: c, actor: caller,
                                                    requestID: "", nowMs: now)
            }
            return c
        }
        wakeRelay()
        return Crm_Customers_V1_UpdateContactResponse(contact: contact)
    }

    /// ListContacts: key persons first, then by name, keyset-paginated.
    func listContacts(_ request: Crm_Customers_V1_ListContactsRequest, context: ServerContext) async throws
        -> Crm_Customers_V1_ListContactsResponse {
        let caller = try Access.caller(context)
        var errors = FieldErrors()
        let customerID = errors.identifier("customer_id", request.customerId)
        if request.pageSize < 0 { errors.add("page_size", "must not be negative") }
        for (i, role) in request.roles.enumerated() { errors.known("roles[\(i)]", role, allowUnspecified: false) }
        try errors.throwIfAny()
        let pageSize = request.pageSize == 0 ? 50 : min(Int(request.pageSize), 500)
        var conditions = ["customer_id = ?"]
        var values: [(any DatabaseValueConvertible)?] = [customerID]
        if request.keyPersonOnly { conditions.append("key_person = 1") }
        if !request.includeArchived { conditions.append("archived = 0") }
        if !request.roles.isEmpty {
            let roles = Array(Set(request.roles.map(\.rawValue)))
            conditions.append("role IN (\(roles.map { _ in "?" }.joined(separator: ", ")))")
            values.append(contentsOf: roles.map { $0 as (any DatabaseValueConvertible)? })
        }
        if let parts = try PageToken.decode(request.pageToken, parts: 3) {
            guard let keyPerson = Int64(parts[0]) else { throw RPCError(.invalidArgument, "page_token: malformed") }
            conditions.append("(key_person < ? OR (key_person = ? AND (name_sort, id) > (?, ?)))")
            values.append(contentsOf: [keyPerson, keyPerson, parts[1], parts[2]] as [(any DatabaseValueConvertible)?])
        }
        values.append(pageSize + 1)
        let sql = "SELECT * FROM contacts WHERE \(conditions.joined(separator: " AND ")) ORDER BY key_person DESC, name_sort, id LIMIT ?"
        let arguments = StatementArguments(values)
        return try await read { db in
            _ = try Access.visibleCustomer(db, id: customerID, caller: caller)
            let rows = try Row.fetchAll(db, sql: sql, arguments: arguments)
            var response = Crm_Customers_V1_ListContactsResponse()
            response.contacts = rows.prefix(pageSize).map(Contact.init(row:))
            if rows.count > pageSize, let last = rows.prefix(pageSize).last {
                response.nextPageToken = PageToken.encode([String(last["key_person"] as Int64), last["name_sort"], last["id"]])
            }
            return response
        }
    }
}

/// Contact helpers: visibility through the owning customer, audit summaries and diffs.
enum ContactText {
    static func summary(_ contact: Contact) -> String {
        var text = "Contact \(contact.name) added"
        if contact.role != .unspecified {
            text += " as \(contact.role.protoName.replacingOccurrences(of: "CONTACT_ROLE_", with: "").lowercased())"
        }
        if contact.keyPerson { text += " (key person)" }
        return text
    }

    /// The contact and its customer, or NOT_FOUND when either is missing or the customer is invisible.
    static func visibleContact(_ db: Database, id: String, caller: Caller) throws -> (customer: StoredCustomer, contact: Contact) {
        guard let contact = try Contact.load(db, id: id),
              let stored = try StoredCustomer.load(db, id: contact.customerId),
              Access.canSee(caller, stored.customer) else {
            throw RPCError(.notFound, "contact \(id) not found")
        }
        return (stored, contact)
    }

    static func changedFields(_ a: Contact, _ b: Contact) -> [String] {
        var fields: [String] = []
        if a.name != b.name { fields.append("name") }
        if a.jobTitle != b.jobTitle { fields.append("job_title") }
        if a.role != b.role { fields.append("role") }
        if a.phone != b.phone { fields.append("phone") }
        if a.email != b.email { fields.append("email") }
        if a.keyPerson != b.keyPerson { fields.append("key_person") }
        if a.notes != b.notes { fields.append("notes") }
        if a.archived != b.archived { fields.append("archived") }
        return fields
    }
}
