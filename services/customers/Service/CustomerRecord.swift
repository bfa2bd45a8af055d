import CRMProto
import CRMStore
import Foundation
import GRDB

typealias Customer = Crm_Customers_V1_Customer
typealias Contact = Crm_Customers_V1_Contact
typealias LifecycleStatus = Crm_Customers_V1_LifecycleStatus
typealias CustomerGrade = Crm_Customers_V1_CustomerGrade

/// A customer row: the proto view plus the columns only this service needs. Handlers change
/// `customer` in memory and `save` writes every column back inside the request's transaction.
struct StoredCustomer: Sendable {
    var customer: Customer
    var gradeBeforeKey: CustomerGrade

    /// Every column of `customers` a customer is read from and written to, in one fixed order: rows are
    /// read by position (cheaper than by name when a page decodes fifty of them).
    enum Column: Int, CaseIterable {
        case id, version, name, nameKey, nameSearch, industry, region, size, tags, website, address, notes, phone,
             email, grade, gradeBeforeKey, keyReason, keyMarkedAtMs, keyMarkedBy, source, sourceDetail, leadId,
             lifecycleStatus, lifecycleChangedAtMs, ownerId, teamId, collaborators, lastActivityAtMs,
             openOpportunityCount, openTicketCount, churnRisk, churnRiskSinceMs, churnReason, archived, archivedAtMs,
             archiveReason, createdBy, createdAtMs, updatedAtMs

        /// The SQL name: lowerCamelCase to snake_case (`keyMarkedAtMs` → `key_marked_at_ms`).
        var sqlName: String {
            String("\(self)".flatMap { $0.isUppercase ? ["_", Character($0.lowercased())] : [$0] })
        }
    }

    static let columns = Column.allCases.map(\.sqlName)
    /// The select list every customer read uses, so `init(row:)` can read by position.
    static let selection = columns.joined(separator: ", ")

    /// The select list with a table alias (`c.id, c.version, …`).
    static func selection(alias: String) -> String {
        columns.map { "\(alias).\($0)" }.joined(separator: ", ")
    }

    init(customer: Customer, gradeBeforeKey: CustomerGrade) {
        self.customer = customer
        self.gradeBeforeKey = gradeBeforeKey
    }

    /// Reads a row selected with `selection` (column positions, not names).
    init(row: some ColumnReader) {
        func text(_ column: Column) -> String { row.text(column.rawValue) }
        func int(_ column: Column) -> Int64 { row.int64(column.rawValue) }
        func int32(_ column: Column) -> Int32 { Int32(truncatingIfNeeded: int(column)) }
        var c = Customer()
        c.id = text(.id)
        c.version = int(.version)
        c.name = text(.name)
        c.industry = text(.industry)
        c.region = text(.region)
        c.size = .init(rawValue: int32(.size))
        c.tags = ListColumn.decode(text(.tags))
        c.website = text(.website)
        c.address = text(.address)
        c.notes = text(.notes)
        c.phone = text(.phone)
        c.email = text(.email)
        c.grade = .init(rawValue: int32(.grade))
        c.key = c.grade == .key
        c.keyReason = text(.keyReason)
        c.keyMarkedAtMs = int(.keyMarkedAtMs)
        c.keyMarkedBy = text(.keyMarkedBy)
        c.source = .init(rawValue: int32(.source))
        c.sourceDetail = text(.sourceDetail)
        c.leadId = text(.leadId)
        c.lifecycleStatus = .init(rawValue: int32(.lifecycleStatus))
        c.lifecycleChangedAtMs = int(.lifecycleChangedAtMs)
        c.ownerId = text(.ownerId)
        c.teamId = text(.teamId)
        c.collaboratorIds = ListColumn.decode(text(.collaborators))
        c.lastActivityAtMs = int(.lastActivityAtMs)
        c.openOpportunityCount = Int32(clamping: int(.openOpportunityCount))
        c.openTicketCount = Int32(clamping: int(.openTicketCount))
        c.churnRisk = int(.churnRisk) != 0
        c.churnRiskSinceMs = int(.churnRiskSinceMs)
        c.churnReason = text(.churnReason)
        c.archived = int(.archived) != 0
        c.archivedAtMs = int(.archivedAtMs)
        c.archiveReason = text(.archiveReason)
        c.createdBy = text(.createdBy)
        c.createdAtMs = int(.createdAtMs)
        c.updatedAtMs = int(.updatedAtMs)
        customer = c
        gradeBeforeKey = .init(rawValue: int32(.gradeBeforeKey))
    }

    private var values: [(any DatabaseValueConvertible)?] {
        let c = customer
        return [
            c.id, c.version, c.name, NameKey.duplicateKey(c.name), NameKey.search(c.name), c.industry, c.region,
            c.size.rawValue, ListColumn.encode(c.tags), c.website, c.address, c.notes, c.phone, c.email,
            c.grade.rawValue, gradeBeforeKey.rawValue, c.keyReason, c.keyMarkedAtMs, c.keyMarkedBy,
            c.source.rawValue, c.sourceDetail, c.leadId, c.lifecycleStatus.rawValue, c.lifecycleChangedAtMs,
            c.ownerId, c.teamId, ListColumn.encode(c.collaboratorIds), c.lastActivityAtMs,
            Int64(c.openOpportunityCount), Int64(c.openTicketCount), c.churnRisk, c.churnRiskSinceMs,
            c.churnReason, c.archived, c.archivedAtMs, c.archiveReason, c.createdBy, c.createdAtMs, c.updatedAtMs,
        ]
    }

    private static let insertSQL =
        "INSERT INTO customers (\(selection)) VALUES (\(Array(repeating: "?", count: columns.count).joined(separator: ", ")))"
    private static let updateSQL =
        "UPDATE customers SET \(columns.dropFirst().map { "\($0) = ?" }.joined(separator: ", ")) WHERE id = ?"

    /// Inserts a new row, with its tag and collaborator index rows.
    func insert(_ db: Database) throws {
        try db.cachedStatement(sql: Self.insertSQL).execute(arguments: StatementArguments(values))
        try syncTags(db)
        try syncCollaborators(db)
    }

    /// Writes every column back (the handler already checked the version inside this transaction).
    func save(_ db: Database) throws {
        var arguments = Array(values.dropFirst())
        arguments.append(customer.id)
        try db.cachedStatement(sql: Self.updateSQL).execute(arguments: StatementArguments(arguments))
    }

    /// Rewrites the tag index rows that the `tag` list filter uses.
    func syncTags(_ db: Database) throws {
        try db.execute(sql: "DELETE FROM customer_tags WHERE customer_id = ?", arguments: [customer.id])
        for tag in Set(customer.tags) {
            try db.execute(sql: "INSERT INTO customer_tags (tag, customer_id) VALUES (?, ?)", arguments: [tag, customer.id])
        }
    }

    /// Rewrites the collaborator index rows that visibility and the `collaborator_id` filter use.
    func syncCollaborators(_ db: Database) throws {
        try db.execute(sql: "DELETE FROM customer_collaborators WHERE customer_id = ?", arguments: [customer.id])
        for user in Set(customer.collaboratorIds) {
            try db.execute(sql: "INSERT INTO customer_collaborators (user_id, customer_id) VALUES (?, ?)",
                           arguments: [user, customer.id])
        }
    }

    private static let selectByID = "SELECT \(selection) FROM customers WHERE id = ?"

    static func load(_ db: Database, id: String) throws -> StoredCustomer? {
        try db.cachedStatement(sql: selectByID).fetchFirst(arguments: [id]) { StoredCustomer(row: $0) }
    }

    static func load(_ db: Database, leadID: String) throws -> StoredCustomer? {
        guard !leadID.isEmpty else { return nil }
        return try Row.fetchOne(db, sql: "SELECT \(selection) FROM customers WHERE lead_id = ?", arguments: [leadID])
            .map(StoredCustomer.init(row:))
    }
}

/// Short string lists (tags, collaborators) stored in one column, joined by the ASCII unit separator,
/// which validation keeps out of the values.
enum ListColumn {
    static let separator = "\u{1F}"

    static func encode(_ values: [String]) -> String { values.joined(separator: separator) }

    static func decode(_ text: String) -> [String] {
        text.isEmpty ? [] : text.split(separator: "\u{1F}", omittingEmptySubsequences: false).map(String.init)
    }
}

extension Contact {
    init(row: Row) {
        self.init()
        id = row["id"]
        version = row["version"]
        customerId = row["customer_id"]
        name = row["name"]
        jobTitle = row["job_title"]
        role = .init(rawValue: row["role"])
        phone = row["phone"]
        email = row["email"]
        keyPerson = row["key_person"]
        notes = row["notes"]
        archived = row["archived"]
        createdAtMs = row["created_at_ms"]
        updatedAtMs = row["updated_at_ms"]
    }

    func insert(_ db: Database) throws {
        try db.execute(sql: """
            INSERT INTO contacts (id, version, customer_id, name, name_sort, job_title, role, phone, email, key_person,
                                  notes, archived, created_at_ms, updated_at_ms)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """, arguments: [id, version, customerId, name, NameKey.search(name), jobTitle, role.rawValue, phone, email,
                             keyPerson, notes, archived, createdAtMs, updatedAtMs])
    }

    func save(_ db: Database) throws {
        try db.execute(sql: """
            UPDATE contacts SET version = ?, name = ?, name_sort = ?, job_title = ?, role = ?, phone = ?, email = ?,
                                key_person = ?, notes = ?, archived = ?, updated_at_ms = ?
            WHERE id = ?
            """, arguments: [version, name, NameKey.search(name), jobTitle, role.rawValue, phone, email, keyPerson,
                             notes, archived, updatedAtMs, id])
    }

    static func load(_ db: Database, id: String) throws -> Contact? {
        try Row.fetchOne(db, sql: "SELECT * FROM contacts WHERE id = ?", arguments: [id]).map(Contact.init(row:))
    }

    static func all(_ db: Database, customerID: String) throws -> [Contact] {
        try Row.fetchAll(db, sql: "SELECT * FROM contacts WHERE customer_id = ? ORDER BY key_person DESC, name_sort, id",
                         arguments: [customerID]).map(Contact.init(row:))
    }
}
