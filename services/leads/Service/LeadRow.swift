import CRMProto
import Foundation
import GRDB
import ProtoWire

/// A row of `leads`: the stored lead plus bookkeeping the proto does not show (warning sent, first
/// assignment/activation for analytics, forced duplicate). Enum columns hold proto numbers.
/// Columns are mapped by hand with cached statements: bulk intake writes thousands of rows per call.
struct LeadRow: FetchableRecord, Sendable {
    var id: String
    var version: Int64
    var source: Int32
    var sourceDetail: String
    var scenario: String
    var contactName: String
    var phone: String
    var email: String
    var jobTitle: String
    var company: String
    var region: String
    var industry: String
    var background: String
    var initialNeed: String
    /// JSON object of string to string (web-form fields, UTM parameters, import columns).
    var attributes: String
    var forceReason: String
    var forcedDuplicateOf: String
    var status: Int32
    var ownerId: String
    var teamId: String
    var assignedAtMs: Int64
    var activationDeadlineMs: Int64
    /// When the R2 warning was raised for the current assignment (0 = not yet), so it is raised once.
    var warnedAtMs: Int64
    var activatedAtMs: Int64
    var lastContactAtMs: Int64
    var contactAttempts: Int32
    var reclaimCount: Int32
    /// Was ever in the pool: a later claim race answers ABORTED instead of NOT_FOUND.
    var everInPool: Bool
    var firstAssignedAtMs: Int64
    var firstActivatedAtMs: Int64
    var firstActivationDelayMs: Int64
    var firstActivatedWithinDeadline: Bool
    var disqualifyReason: Int32
    var disqualifyNote: String
    var customerId: String
    var opportunityId: String
    var convertedAtMs: Int64
    var createdBy: String
    var createdAtMs: Int64
    var updatedAtMs: Int64
    var closedAtMs: Int64

    static let columns = [
        "id", "version", "source", "source_detail", "scenario", "contact_name", "phone", "email", "job_title",
        "company", "region", "industry", "background", "initial_need", "attributes", "force_reason",
        "forced_duplicate_of", "status", "owner_id", "team_id", "assigned_at_ms", "activation_deadline_ms",
        "warned_at_ms", "activated_at_ms", "last_contact_at_ms", "contact_attempts", "reclaim_count", "ever_in_pool",
        "first_assigned_at_ms", "first_activated_at_ms", "first_activation_delay_ms",
        "first_activated_within_deadline", "disqualify_reason", "disqualify_note", "customer_id", "opportunity_id",
        "converted_at_ms", "created_by", "created_at_ms", "updated_at_ms", "closed_at_ms",
    ]

    private var values: [any DatabaseValueConvertible] {
        [id, version, source, sourceDetail, scenario, contactName, phone, email, jobTitle, company, region, industry,
         background, initialNeed, attributes, forceReason, forcedDuplicateOf, status, ownerId, teamId, assignedAtMs,
         activationDeadlineMs, warnedAtMs, activatedAtMs, lastContactAtMs, contactAttempts, reclaimCount, everInPool,
         firstAssignedAtMs, firstActivatedAtMs, firstActivationDelayMs, firstActivatedWithinDeadline,
         disqualifyReason, disqualifyNote, customerId, opportunityId, convertedAtMs, createdBy, createdAtMs,
         updatedAtMs, closedAtMs]
    }

    private static let insertSQL =
        "INSERT INTO leads (\(columns.joined(separator: ", "))) VALUES (\(columns.map { _ in "?" }.joined(separator: ", ")))"
    private static let updateSQL =
        "UPDATE leads SET \(columns.dropFirst().map { "\($0) = ?" }.joined(separator: ", ")) WHERE id = ?"

    init(row: Row) throws {
        id = row["id"]
        version = row["version"]
        source = row["source"]
        sourceDetail = row["source_detail"]
        scenario = row["scenario"]
        contactName = row["contact_name"]
        phone = row["phone"]
        email = row["email"]
        jobTitle = row["job_title"]
        company = row["company"]
        region = row["region"]
        industry = row["industry"]
        background = row["background"]
        initialNeed = row["initial_need"]
        attributes = row["attributes"]
        forceReason = row["force_reason"]
        forcedDuplicateOf = row["forced_duplicate_of"]
        status = row["status"]
        ownerId = row["owner_id"]
        teamId = row["team_id"]
        assignedAtMs = row["assigned_at_ms"]
        activationDeadlineMs = row["activation_deadline_ms"]
        warnedAtMs = row["warned_at_ms"]
        activatedAtMs = row["activated_at_ms"]
        lastContactAtMs = row["last_contact_at_ms"]
        contactAttempts = row["contact_attempts"]
        reclaimCount = row["reclaim_count"]
        everInPool = row["ever_in_pool"]
        firstAssignedAtMs = row["first_assigned_at_ms"]
        firstActivatedAtMs = row["first_activated_at_ms"]
        firstActivationDelayMs = row["first_activation_delay_ms"]
        firstActivatedWithinDeadline = row["first_activated_within_deadline"]
        disqualifyReason = row["disqualify_reason"]
        disqualifyNote = row["disqualify_note"]
        customerId = row["customer_id"]
        opportunityId = row["opportunity_id"]
        convertedAtMs = row["converted_at_ms"]
        createdBy = row["created_by"]
        createdAtMs = row["created_at_ms"]
        updatedAtMs = row["updated_at_ms"]
        closedAtMs = row["closed_at_ms"]
    }

    func insert(_ db: Database) throws {
        try db.cachedStatement(sql: Self.insertSQL).execute(arguments: StatementArguments(values))
    }

    func update(_ db: Database) throws {
        try db.cachedStatement(sql: Self.updateSQL).execute(arguments: StatementArguments(Array(values.dropFirst()) + [id]))
    }

    var leadStatus: Crm_Leads_V1_LeadStatus { Crm_Leads_V1_LeadStatus(rawValue: status) }
    var leadSource: Crm_Leads_V1_LeadSource { Crm_Leads_V1_LeadSource(rawValue: source) }

    /// Open = still in the funnel: duplicates are checked against these, reassignments allowed.
    var isOpen: Bool { [.pool, .assigned, .activated, .converting].contains(leadStatus) }

    static func fetch(_ db: Database, id: String) throws -> LeadRow? {
        guard !id.isEmpty else { return nil }
        return try LeadRow.fetchOne(db.cachedStatement(sql: "SELECT * FROM leads WHERE id = ?"), arguments: [id])
    }

    /// Stores the row with its version bumped and `updated_at_ms` set.
    mutating func saveChange(_ db: Database, now: Int64) throws {
        version = version.addingClamped(1)
        updatedAtMs = now
        try update(db)
    }
}
