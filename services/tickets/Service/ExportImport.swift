import CRMProto
import Foundation
import GRDB
import RPCCore
import ServiceRuntime

/// ExportTickets / ImportTickets: the admin's raw backup and restore of tickets with their comments and
/// history. Import restores records as they were (no events, no SLA recomputation), one transaction per
/// record, idempotent by ticket id: a record already present unchanged answers UNCHANGED; one that
/// differs from what is stored is refused (FAILED), never silently overwritten.
extension TicketService {
    static let exportBatch = 200

    func exportTickets(_ request: Crm_Tickets_V1_ExportTicketsRequest,
                       responses: ResponseWriter<Crm_Tickets_V1_ExportTicketsResponse>, context: ServerContext) async throws {
        let caller = try Caller(context: context)
        var errors = FieldErrors()
        errors.checkInstant("updated_since_ms", request.updatedSinceMs)
        Self.checkEnums("statuses", request.statuses, &errors)
        try errors.throwIfAny()
        let now = clock.nowMs()
        var lastID = ""
        while true {
            var query = TicketQuery(caller: caller)
            if request.updatedSinceMs > 0 { query.add("updated_at_ms >= ?", [request.updatedSinceMs]) }
            query.among("status", request.statuses.map(\.rawValue))
            query.add("id > ?", [lastID])
            let sql = "SELECT * FROM tickets WHERE \(query.whereClause) ORDER BY id LIMIT \(Self.exportBatch)"
            let arguments = query.arguments
            let records = try await read { db in
                try TicketRecord.fetchAll(db, sql: sql, arguments: arguments).map { ticket in
                    Crm_Tickets_V1_TicketExportRecord(ticket: ticket.proto(at: now),
                                                      comments: try Self.comments(db, ticketID: ticket.id),
                                                      history: try Self.history(db, ticketID: ticket.id))
                }
            }
            for record in records { try await responses.write(Crm_Tickets_V1_ExportTicketsResponse(record: record)) }
            guard records.count == Self.exportBatch, let last = records.last?.ticket?.id else { return }
            lastID = last
        }
    }

    func importTickets(_ requests: RequestStream<Crm_Tickets_V1_ImportTicketsRequest>, context: ServerContext) async throws
        -> Crm_Tickets_V1_ImportTicketsResponse {
        let caller = try Caller(context: context)
        guard caller.role == .admin else {
            throw RPCError(.permissionDenied, "importing tickets needs an admin; \(caller.userID) is a \(caller.role.rawValue)")
        }
        var response = Crm_Tickets_V1_ImportTicketsResponse()
        var dryRun: Bool?
        var rowNumber: Int64 = 0
        for try await message in requests {
            rowNumber += 1
            if dryRun == nil { dryRun = message.dryRun }
            let result = await importOne(message.record, row: rowNumber, dryRun: dryRun ?? false)
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

    private func importOne(_ record: Crm_Tickets_V1_TicketExportRecord?, row: Int64, dryRun: Bool) async
        -> Crm_Tickets_V1_ImportRowResult {
        var result = Crm_Tickets_V1_ImportRowResult(rowNumber: row, ticketId: record?.ticket?.id ?? "")
        guard let record, let ticket = record.ticket else {
            result.status = .invalid
            result.message = "record.ticket: required"
            return result
        }
        let problems = ImportValidation.problems(record)
        if !problems.isEmpty {
            result.status = .invalid
            result.message = problems.joined(separator: "; ")
            return result
        }
        do {
            let status = try await write { db -> Crm_Tickets_V1_ImportStatus in
                let warn = try SettingsStore.load(db).target(for: ticket.priority).warnBeforeMs
                let restored = TicketRecord.restored(ticket, warnBeforeMs: warn)
                if let existing = try TicketRecord.fetch(db, id: ticket.id) {
                    guard existing.version == restored.version, existing.updatedAtMs == restored.updatedAtMs else {
                        throw RPCError(.alreadyExists, "ticket \(ticket.id) exists at version \(existing.version) with different content")
                    }
                    return .unchanged
                }
                if dryRun { return .valid }
                try restored.insert(db)
                for comment in record.comments {
                    try db.execute(sql: """
                        INSERT OR IGNORE INTO comments (id, ticket_id, author_id, body, internal_only, created_at_ms) VALUES (?, ?, ?, ?, ?, ?)
                        """, arguments: [comment.id.isEmpty ? RecordID.make("cmt", nowMs: comment.createdAtMs) : comment.id,
                                         ticket.id, comment.authorId, comment.body, comment.internalOnly, comment.createdAtMs])
                }
                for step in record.history {
                    _ = try Self.recordTransition(db, ticketID: ticket.id, from: step.fromStatus, to: step.toStatus,
                                                  actor: step.actorId, at: step.atMs, reason: step.reason)
                }
                return .imported
            }
            result.status = status
        } catch let error as RPCError {
            result.status = .failed
            result.message = error.message
        } catch let error as DatabaseError where error.resultCode == .SQLITE_CONSTRAINT {
            result.status = .failed
            result.message = "conflicts with a stored ticket (onboarding step of this opportunity already present)"
        } catch {
            result.status = .failed
            result.message = "could not be stored: \(error)"
        }
        return result
    }
}

enum ImportValidation {
    static func problems(_ record: Crm_Tickets_V1_TicketExportRecord) -> [String] {
        guard let ticket = record.ticket else { return ["ticket: required"] }
        var errors = FieldErrors()
        if TicketFields.trimmed(ticket.id).isEmpty { errors.add("ticket.id", "required") }
        errors.checkID("ticket.id", ticket.id)
        if ticket.version <= 0 { errors.add("ticket.version", "must be positive") }
        if !TicketFields.isKnown(ticket.kind) { errors.add("ticket.kind", "unknown") }
        if !TicketFields.isKnown(ticket.status) { errors.add("ticket.status", "unknown") }
        if !TicketFields.isKnown(ticket.priority) { errors.add("ticket.priority", "unknown") }
        if !TicketFields.isKnown(ticket.origin) { errors.add("ticket.origin", "unknown") }
        if TicketFields.trimmed(ticket.customerId).isEmpty { errors.add("ticket.customer_id", "required") }
        if TicketFields.trimmed(ticket.ownerId).isEmpty { errors.add("ticket.owner_id", "required") }
        if TicketFields.trimmed(ticket.title).isEmpty { errors.add("ticket.title", "required") }
        errors.maxLength("ticket.title", ticket.title, TicketFields.maxTitle)
        errors.maxLength("ticket.details", ticket.details, TicketFields.maxDetails)
        for (field, value) in [("ticket.customer_id", ticket.customerId), ("ticket.opportunity_id", ticket.opportunityId),
                               ("ticket.owner_id", ticket.ownerId), ("ticket.team_id", ticket.teamId),
                               ("ticket.template_step", ticket.templateStep)] {
            errors.checkID(field, value)
        }
        let sla = ticket.sla ?? Crm_Tickets_V1_TicketSla()
        for (field, value) in [("ticket.created_at_ms", ticket.createdAtMs), ("ticket.updated_at_ms", ticket.updatedAtMs),
                               ("ticket.due_ms", ticket.dueMs), ("ticket.resolved_at_ms", ticket.resolvedAtMs),
                               ("ticket.closed_at_ms", ticket.closedAtMs), ("ticket.sla.response_due_ms", sla.responseDueMs),
                               ("ticket.sla.resolution_due_ms", sla.resolutionDueMs),
                               ("ticket.sla.first_response_at_ms", sla.firstResponseAtMs)] {
            errors.checkInstant(field, value)
        }
        if ticket.createdAtMs <= 0 { errors.add("ticket.created_at_ms", "required") }
        if sla.pausedMs < 0 || sla.pausedMs > TicketFields.maxInstantMs { errors.add("ticket.sla.paused_ms", "out of range") }
        if let outcome = ticket.returnVisit, !(0...5).contains(outcome.satisfaction) {
            errors.add("ticket.return_visit.satisfaction", "must be 1 to 5")
        }
        for (i, comment) in record.comments.enumerated() {
            errors.checkID("comments[\(i)].id", comment.id)
            errors.maxLength("comments[\(i)].body", comment.body, TicketFields.maxComment)
            errors.checkInstant("comments[\(i)].created_at_ms", comment.createdAtMs)
        }
        for (i, step) in record.history.enumerated() {
            errors.checkInstant("history[\(i)].at_ms", step.atMs)
            errors.maxLength("history[\(i)].reason", step.reason, TicketFields.maxReason)
        }
        return errors.problems
    }
}

extension TicketRecord {
    /// A ticket rebuilt from its export, clocks as they were exported.
    static func restored(_ ticket: Crm_Tickets_V1_Ticket, warnBeforeMs: Int64) -> TicketRecord {
        let sla = ticket.sla ?? Crm_Tickets_V1_TicketSla()
        return TicketRecord(
            id: ticket.id, version: ticket.version, kind: ticket.kind, customerID: ticket.customerId,
            customerName: ticket.customerName, opportunityID: ticket.opportunityId, title: ticket.title,
            details: ticket.details, priority: ticket.priority, ownerID: ticket.ownerId, teamID: ticket.teamId,
            dueMs: ticket.dueMs, dueExplicit: true, status: ticket.status, origin: ticket.origin,
            templateStep: ticket.templateStep, resolution: ticket.resolution, resolvedAtMs: ticket.resolvedAtMs,
            closedAtMs: ticket.closedAtMs, reopenCount: ticket.reopenCount, returnVisit: ticket.returnVisit,
            commentCount: ticket.commentCount, createdBy: ticket.createdBy, createdAtMs: ticket.createdAtMs,
            updatedAtMs: ticket.updatedAtMs, responseDueMs: sla.responseDueMs, resolutionDueMs: sla.resolutionDueMs,
            warnBeforeMs: warnBeforeMs, firstResponseAtMs: sla.firstResponseAtMs, pausedMs: sla.pausedMs,
            waitingSinceMs: ticket.status == .waitingOnCustomer ? ticket.updatedAtMs : 0,
            responseBreachedAtMs: sla.responseState == .breached ? sla.responseDueMs : nil,
            resolutionBreachedAtMs: sla.resolutionState == .breached ? sla.resolutionDueMs : nil,
            sweptResponseState: sla.responseState, sweptResolutionState: sla.resolutionState)
    }
}
