import CRMProto
import GRDB
import RPCCore
import ServiceRuntime

/// AddComment: appends a comment, idempotent by request_id. A customer-facing (not internal) comment
/// by staff is the ticket's first response for the SLA. Comments are children of the ticket: adding
/// one does not change the ticket's version, so it never conflicts with an edit in progress.
extension TicketService {
    func addComment(_ request: Crm_Tickets_V1_AddCommentRequest, context: ServerContext) async throws
        -> Crm_Tickets_V1_AddCommentResponse {
        let caller = try Caller(context: context)
        var errors = FieldErrors()
        errors.maxLength("request_id", request.requestId, TicketFields.maxID)
        let id = errors.require("ticket_id", request.ticketId)
        errors.checkID("ticket_id", id)
        let body = errors.require("body", request.body)
        errors.maxLength("body", body, TicketFields.maxComment)
        try errors.throwIfAny()
        let now = clock.nowMs()
        let scope = "AddComment/\(caller.userID)"
        let (response, replayed) = try await write { db in
            try Idempotency.run(db, scope: scope, requestID: request.requestId, request: request, nowMs: now) {
                var ticket = try Visibility.loadVisible(db, id: id, for: caller)
                let comment = Crm_Tickets_V1_Comment(
                    id: RecordID.make("cmt", nowMs: now), ticketId: ticket.id, authorId: caller.userID, body: body,
                    internalOnly: request.internalOnly, createdAtMs: now)
                try db.execute(sql: """
                    INSERT INTO comments (id, ticket_id, author_id, body, internal_only, created_at_ms) VALUES (?, ?, ?, ?, ?, ?)
                    """, arguments: [comment.id, comment.ticketId, comment.authorId, comment.body, comment.internalOnly, now])
                ticket.recordBreaches(at: now)
                if !request.internalOnly, ticket.isActive { ticket.noteFirstResponse(at: now) }
                ticket.commentCount += 1
                ticket.updatedAtMs = now
                ticket.recordBreaches(at: now)
                try ticket.update(db)
                return Crm_Tickets_V1_AddCommentResponse(comment: comment, ticket: ticket.proto(at: now))
            }
        }
        var answer = response
        answer.replayed = replayed
        return answer
    }
}
