import CRMProto
import GRDB
import RPCCore
import ServiceRuntime

/// UpdateTicketStatus: one allowed move of the lifecycle (StatusRules.swift), recorded in the history
/// and reported as TICKET_STATUS_CHANGED (and TICKET_CLOSED on closing) in the same transaction.
extension TicketService {
    func updateTicketStatus(_ request: Crm_Tickets_V1_UpdateTicketStatusRequest, context: ServerContext) async throws
        -> Crm_Tickets_V1_UpdateTicketStatusResponse {
        let caller = try Caller(context: context)
        try StatusRules.validate(request)
        let id = TicketFields.trimmed(request.ticketId)
        let now = clock.nowMs()
        let (ticket, transition) = try await write { db in
            var ticket = try Visibility.loadVisible(db, id: id, for: caller)
            try Self.checkVersion(ticket, request.version)
            if request.returnVisit != nil, ticket.kind != .returnVisit {
                throw RPCError(.invalidArgument, "return_visit: only recorded for a RETURN_VISIT ticket; \(ticket.id) is \(ticket.kind.protoName)")
            }
            try StatusRules.check(ticket, request)
            let from = ticket.status, to = request.toStatus
            let reason = TicketFields.trimmed(request.reason)
            ticket.recordBreaches(at: now)
            ticket.move(to: to, at: now, resolution: TicketFields.trimmed(request.resolution),
                        outcome: request.returnVisit)
            ticket.version += 1
            ticket.updatedAtMs = now
            ticket.recordBreaches(at: now)
            try ticket.update(db)
            let transition = try Self.recordTransition(db, ticketID: ticket.id, from: from, to: to,
                                                       actor: caller.userID, at: now, reason: reason)
            let actor = TicketEvents.Actor(caller)
            try TicketEvents.statusChanged(db, ticket, from: from, reason: reason, by: actor, now: now)
            if to == .closed { try TicketEvents.closed(db, ticket, by: actor, now: now) }
            return (ticket, transition)
        }
        return Crm_Tickets_V1_UpdateTicketStatusResponse(ticket: ticket.proto(at: now), transition: transition)
    }
}

extension TicketRecord {
    /// The effects of a move on the ticket and its SLA clocks (the move was already checked).
    mutating func move(to next: TicketStatus, at now: Int64, resolution newResolution: String,
                       outcome: Crm_Tickets_V1_ReturnVisitOutcome?) {
        // Any move out of OPEN is the first response (the customer was acknowledged).
        if status == .open { noteFirstResponse(at: now) }
        // Leaving a wait resumes the clocks: the resolution target moves back by the wait.
        if status == .waitingOnCustomer, waitingSinceMs > 0 {
            let waited = max(0, now - waitingSinceMs)
            pausedMs = pausedMs.plus(waited)
            resolutionDueMs = resolutionDueMs.plus(waited)
            waitingSinceMs = 0
        }
        if StatusRules.isReopen(from: status, to: next) {
            reopenCount += 1
            resolution = ""
            resolvedAtMs = 0
            closedAtMs = 0
            returnVisit = nil
        }
        switch next {
        case .waitingOnCustomer:
            waitingSinceMs = now
        case .resolved:
            resolution = newResolution
            resolvedAtMs = now
        case .closed:
            closedAtMs = now
            if let outcome { returnVisit = outcome }
        default:
            break
        }
        status = next
    }
}
