import CRMProto
import Foundation
import GRDB
import RPCCore

/// A ticket as stored: the fields of `crm.tickets.v1.Ticket` plus the SLA clock state behind its
/// `sla` (see SlaClock.swift). Handlers load one, change it, and save it inside one transaction.
struct TicketRecord: Sendable, Equatable {
    var id: String
    var version: Int64
    var kind: TicketKind
    var customerID: String
    var customerName: String
    var opportunityID: String
    var title: String
    var details: String
    var priority: TicketPriority
    var ownerID: String
    var teamID: String
    var dueMs: Int64
    /// Whether due_ms was set by a person (then it also bounds the resolution target) or defaulted.
    var dueExplicit: Bool
    var status: TicketStatus
    var origin: TicketOrigin
    var templateStep: String
    var resolution: String
    var resolvedAtMs: Int64
    var closedAtMs: Int64
    var reopenCount: Int32
    var returnVisit: Crm_Tickets_V1_ReturnVisitOutcome?
    var commentCount: Int32
    var createdBy: String
    var createdAtMs: Int64
    var updatedAtMs: Int64
    // SLA clocks.
    var responseDueMs: Int64
    var resolutionDueMs: Int64
    var warnBeforeMs: Int64
    var firstResponseAtMs: Int64
    var pausedMs: Int64
    var waitingSinceMs: Int64
    var responseBreachedAtMs: Int64?
    var resolutionBreachedAtMs: Int64?
    // Last sweep's view (only for reporting what is new).
    var sweptResponseState: SlaState
    var sweptResolutionState: SlaState

    var isActive: Bool { TicketFields.activeStatuses.contains(status) }
}

extension TicketRecord: FetchableRecord {
    init(row: Row) throws {
        id = row["id"]
        version = row["version"]
        kind = TicketKind(rawValue: row["kind"])
        customerID = row["customer_id"]
        customerName = row["customer_name"]
        opportunityID = row["opportunity_id"]
        title = row["title"]
        details = row["details"]
        priority = TicketPriority(rawValue: row["priority"])
        ownerID = row["owner_id"]
        teamID = row["team_id"]
        dueMs = row["due_ms"]
        dueExplicit = row["due_explicit"]
        status = TicketStatus(rawValue: row["status"])
        origin = TicketOrigin(rawValue: row["origin"])
        templateStep = row["template_step"]
        resolution = row["resolution"]
        resolvedAtMs = row["resolved_at_ms"]
        closedAtMs = row["closed_at_ms"]
        reopenCount = row["reopen_count"]
        if let data = row["return_visit"] as Data? {
            returnVisit = try Crm_Tickets_V1_ReturnVisitOutcome(serializedBytes: Array(data))
        }
        commentCount = row["comment_count"]
        createdBy = row["created_by"]
        createdAtMs = row["created_at_ms"]
        updatedAtMs = row["updated_at_ms"]
        responseDueMs = row["response_due_ms"]
        resolutionDueMs = row["resolution_due_ms"]
        warnBeforeMs = row["warn_before_ms"]
        firstResponseAtMs = row["first_response_at_ms"]
        pausedMs = row["paused_ms"]
        waitingSinceMs = row["waiting_since_ms"]
        responseBreachedAtMs = row["response_breached_at_ms"]
        resolutionBreachedAtMs = row["resolution_breached_at_ms"]
        sweptResponseState = SlaState(rawValue: row["swept_response_state"])
        sweptResolutionState = SlaState(rawValue: row["swept_resolution_state"])
    }
}

extension TicketRecord {
    static let columns = """
        id, version, kind, customer_id, customer_name, opportunity_id, title, details, priority, owner_id, team_id,
        due_ms, due_explicit, status, origin, template_step, resolution, resolved_at_ms, closed_at_ms, reopen_count,
        return_visit, comment_count, created_by, created_at_ms, updated_at_ms, response_due_ms, resolution_due_ms,
        warn_before_ms, first_response_at_ms, paused_ms, waiting_since_ms, response_breached_at_ms,
        resolution_breached_at_ms, swept_response_state, swept_resolution_state
        """

    static let columnNames = columns.split(separator: ",").map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
    /// One `?` per column, so `columns` and `values` are the only lists to keep in step.
    static let placeholders = Array(repeating: "?", count: columnNames.count).joined(separator: ", ")
    /// `version = ?, kind = ?, …` for every column but the id.
    static let assignments = columnNames.dropFirst().map { "\($0) = ?" }.joined(separator: ", ")

    /// The column values in `columns` order (id first).
    private var values: [(any DatabaseValueConvertible)?] {
        let returnVisitBytes: Data? = returnVisit.map { Data($0.serializedBytes()) }
        let first: [(any DatabaseValueConvertible)?] = [
            id, version, kind.rawValue, customerID, customerName, opportunityID, title, details, priority.rawValue,
            ownerID, teamID, dueMs, dueExplicit, status.rawValue, origin.rawValue, templateStep, resolution,
            resolvedAtMs, closedAtMs, reopenCount,
        ]
        let second: [(any DatabaseValueConvertible)?] = [
            returnVisitBytes, commentCount, createdBy, createdAtMs, updatedAtMs, responseDueMs, resolutionDueMs,
            warnBeforeMs, firstResponseAtMs, pausedMs, waitingSinceMs, responseBreachedAtMs, resolutionBreachedAtMs,
            sweptResponseState.rawValue, sweptResolutionState.rawValue,
        ]
        return first + second
    }

    /// Inserts a new ticket; a clash with an existing onboarding step surfaces as a constraint error.
    func insert(_ db: Database) throws {
        try db.execute(sql: "INSERT INTO tickets (\(Self.columns)) VALUES (\(Self.placeholders))",
                       arguments: StatementArguments(values))
    }

    /// Writes every column of an existing ticket.
    func update(_ db: Database) throws {
        try db.execute(sql: "UPDATE tickets SET \(Self.assignments) WHERE id = ?",
                       arguments: StatementArguments(Array(values.dropFirst()) + [id]))
    }

    static func fetch(_ db: Database, id: String) throws -> TicketRecord? {
        try TicketRecord.fetchOne(db, sql: "SELECT * FROM tickets WHERE id = ?", arguments: [id])
    }

    /// The API view at instant `now`: SLA states are evaluated live, so they are right between sweeps.
    func proto(at now: Int64) -> Crm_Tickets_V1_Ticket {
        let clock = SlaClock(self)
        let responseState = clock.responseState(at: now)
        let resolutionState = clock.resolutionState(at: now)
        return Crm_Tickets_V1_Ticket(
            id: id, version: version, kind: kind, customerId: customerID, customerName: customerName,
            opportunityId: opportunityID, title: title, details: details, priority: priority, ownerId: ownerID,
            teamId: teamID, dueMs: dueMs, status: status,
            sla: Crm_Tickets_V1_TicketSla(
                responseDueMs: responseDueMs, resolutionDueMs: resolutionDueMs, firstResponseAtMs: firstResponseAtMs,
                responseState: responseState, resolutionState: resolutionState,
                pausedMs: clock.pausedMs(at: now),
                breached: responseState == .breached || resolutionState == .breached),
            origin: origin, templateStep: templateStep, resolution: resolution, resolvedAtMs: resolvedAtMs,
            closedAtMs: closedAtMs, reopenCount: reopenCount, returnVisit: returnVisit, commentCount: commentCount,
            createdBy: createdBy, createdAtMs: createdAtMs, updatedAtMs: updatedAtMs)
    }
}
