import CRMProto
import GRDB
import RPCCore
import ServiceRuntime

/// GetTicket: one visible ticket, optionally with its comments and status history.
extension TicketService {
    func getTicket(_ request: Crm_Tickets_V1_GetTicketRequest, context: ServerContext) async throws
        -> Crm_Tickets_V1_GetTicketResponse {
        let caller = try Caller(context: context)
        var errors = FieldErrors()
        let id = errors.require("ticket_id", request.ticketId)
        errors.checkID("ticket_id", id)
        try errors.throwIfAny()
        let now = clock.nowMs()
        return try await read { db in
            let ticket = try Visibility.loadVisible(db, id: id, for: caller)
            var response = Crm_Tickets_V1_GetTicketResponse(ticket: ticket.proto(at: now))
            if request.includeComments { response.comments = try Self.comments(db, ticketID: id) }
            if request.includeHistory { response.history = try Self.history(db, ticketID: id) }
            return response
        }
    }

    static func comments(_ db: Database, ticketID: String) throws -> [Crm_Tickets_V1_Comment] {
        try Row.fetchAll(db, sql: """
            SELECT id, author_id, body, internal_only, created_at_ms FROM comments WHERE ticket_id = ?
            ORDER BY created_at_ms, id
            """, arguments: [ticketID]).map { row in
            Crm_Tickets_V1_Comment(id: row["id"], ticketId: ticketID, authorId: row["author_id"], body: row["body"],
                                   internalOnly: row["internal_only"], createdAtMs: row["created_at_ms"])
        }
    }

    static func history(_ db: Database, ticketID: String) throws -> [Crm_Tickets_V1_StatusTransition] {
        try Row.fetchAll(db, sql: """
            SELECT from_status, to_status, actor_id, at_ms, reason FROM status_history WHERE ticket_id = ? ORDER BY seq
            """, arguments: [ticketID]).map { row in
            Crm_Tickets_V1_StatusTransition(fromStatus: TicketStatus(rawValue: row["from_status"]),
                                            toStatus: TicketStatus(rawValue: row["to_status"]),
                                            actorId: row["actor_id"], atMs: row["at_ms"], reason: row["reason"])
        }
    }
}
