import CRMProto
import GRDB
import RPCCore
import ServiceRuntime

typealias ExportRecord = Crm_Customers_V1_CustomerExportRecord

extension CustomerHandler {
    /// ExportCustomers (admin): every customer with contacts, transitions and (optionally) timeline, in id
    /// order, read in batches so a large store never sits in memory at once.
    func exportCustomers(_ request: Crm_Customers_V1_ExportCustomersRequest,
                         responses: ResponseWriter<Crm_Customers_V1_ExportCustomersResponse>,
                         context: ServerContext) async throws {
        let caller = try Access.caller(context)
        try requireAdmin(caller, "exporting customers")
        var afterID = ""
        let (since, includeArchived, includeTimeline) = (request.updatedSinceMs, request.includeArchived, request.includeTimeline)
        while true {
            let cursor = afterID
            let batch = try await read { db -> [ExportRecord] in
                let rows = try Row.fetchAll(db, sql: """
                    SELECT \(StoredCustomer.selection) FROM customers WHERE id > ? AND updated_at_ms >= ? AND (archived = 0 OR ?)
                    ORDER BY id LIMIT 200
                    """, arguments: [cursor, since, includeArchived])
                return try rows.map { row in
                    let customer = StoredCustomer(row: row).customer
                    return ExportRecord(
                        customer: customer, contacts: try Contact.all(db, customerID: customer.id),
                        transitions: try Audit.transitions(db, customerID: customer.id),
                        timeline: includeTimeline ? try Row.fetchAll(db, sql: "SELECT * FROM timeline WHERE customer_id = ? ORDER BY seq",
                                                                     arguments: [customer.id]).map(Audit.timelineEntry(row:)) : [])
                }
            }
            for record in batch { try await responses.write(Crm_Customers_V1_ExportCustomersResponse(record: record)) }
            guard batch.count == 200, let last = batch.last?.customer?.id else { return }
            afterID = last
        }
    }

    /// ImportCustomers (admin): exported records restored as-is, each in its own transaction, idempotent
    /// by customer id (same version → UNCHANGED; another version → FAILED, never overwritten).
    func importCustomers(_ requests: RequestStream<Crm_Customers_V1_ImportCustomersRequest>, context: ServerContext)
        async throws -> Crm_Customers_V1_ImportCustomersResponse {
        let caller = try Access.caller(context)
        try requireAdmin(caller, "importing customers")
        var response = Crm_Customers_V1_ImportCustomersResponse()
        var dryRun: Bool?
        var row: Int64 = 0
        for try await message in requests {
            row += 1
            if dryRun == nil { dryRun = message.dryRun }
            let record = message.record ?? .init()
            var result = Crm_Customers_V1_ImportRowResult(rowNumber: row, customerId: record.customer?.id ?? "")
            do {
                try ImportCheck.validate(record)
                let dry = dryRun ?? false
                result.status = try await write { db in try ImportCheck.restore(db, record, dryRun: dry) }
            } catch let error as RPCError {
                result.status = error.code == .invalidArgument ? .invalid : .failed
                result.message = error.message
            }
            switch result.status {
            case .imported: response.imported += 1
            case .unchanged: response.unchanged += 1
            case .invalid, .failed: response.failed += 1
            default: break
            }
            response.results.append(result)
        }
        return response
    }
}

/// Validation and restore of one exported record.
enum ImportCheck {
    /// Versions only ever grow by one per change; a bound keeps every later `+ 1` far from overflow.
    static let maxVersion: Int64 = 1 << 50

    static func validate(_ record: ExportRecord) throws {
        var errors = FieldErrors()
        let c = record.customer ?? .init()
        if record.customer == nil { errors.add("record.customer", "required") }
        _ = errors.identifier("customer.id", c.id)
        if !(1...ImportCheck.maxVersion).contains(c.version) {
            errors.add("customer.version", "must be 1 to \(ImportCheck.maxVersion), got \(c.version)")
        }
        _ = errors.text("customer.name", c.name, max: Limits.name, required: true)
        _ = errors.identifier("customer.owner_id", c.ownerId)
        errors.known("customer.lifecycle_status", c.lifecycleStatus, allowUnspecified: false)
        errors.known("customer.grade", c.grade, allowUnspecified: false)
        errors.known("customer.size", c.size)
        errors.known("customer.source", c.source)
        _ = errors.tags("customer.tags", c.tags)
        for (i, id) in c.collaboratorIds.enumerated() { _ = errors.identifier("customer.collaborator_ids[\(i)]", id) }
        for (i, contact) in record.contacts.enumerated() {
            _ = errors.identifier("contacts[\(i)].id", contact.id)
            if contact.customerId != c.id { errors.add("contacts[\(i)].customer_id", "must be the record's customer id") }
            _ = errors.text("contacts[\(i)].name", contact.name, max: Limits.name, required: true)
            if !(1...ImportCheck.maxVersion).contains(contact.version) {
                errors.add("contacts[\(i)].version", "must be 1 to \(ImportCheck.maxVersion), got \(contact.version)")
            }
        }
        for (i, entry) in record.timeline.enumerated() where entry.customerId != c.id {
            errors.add("timeline[\(i)].customer_id", "must be the record's customer id")
        }
        try errors.throwIfAny()
    }

    static func restore(_ db: Database, _ record: ExportRecord, dryRun: Bool) throws -> Crm_Customers_V1_ImportStatus {
        let c = record.customer ?? .init()
        if let existing = try StoredCustomer.load(db, id: c.id) {
            guard existing.customer.version == c.version else {
                throw RPCError(.failedPrecondition, "customer \(c.id) exists at version \(existing.customer.version); the record is version \(c.version)")
            }
            return .unchanged
        }
        if !c.leadId.isEmpty, try StoredCustomer.load(db, leadID: c.leadId) != nil {
            throw RPCError(.failedPrecondition, "another customer was already created from lead \(c.leadId)")
        }
        for contact in record.contacts where try Contact.load(db, id: contact.id) != nil {
            throw RPCError(.failedPrecondition, "contact \(contact.id) already exists")
        }
        if dryRun { return .valid }
        var customer = c
        customer.key = c.grade == .key
        try StoredCustomer(customer: customer, gradeBeforeKey: c.grade == .key ? .c : c.grade).insert(db)
        for contact in record.contacts { try contact.insert(db) }
        for transition in record.transitions { try Audit.recordTransition(db, customerID: c.id, transition) }
        for entry in record.timeline {
            if try Bool.fetchOne(db, sql: "SELECT 1 FROM timeline WHERE id = ?", arguments: [entry.id]) == true { continue }
            try Audit.record(db, entry)
        }
        return .imported
    }
}
