import CRMProto
import GRDB
import RPCCore
import ServiceRuntime

/// UpdateTicket: partial update of title, details, priority, due date and owner, optimistic by version.
/// A priority change re-targets the SLA clocks; an owner change needs the team's manager or an admin
/// and a reason, and is recorded.
extension TicketService {
    func updateTicket(_ request: Crm_Tickets_V1_UpdateTicketRequest, context: ServerContext) async throws
        -> Crm_Tickets_V1_UpdateTicketResponse {
        let caller = try Caller(context: context)
        let now = clock.nowMs()
        var errors = FieldErrors()
        let id = errors.require("ticket_id", request.ticketId)
        errors.checkID("ticket_id", id)
        if request.version <= 0 { errors.add("version", "required (the ticket version this change is based on)") }
        if let title = request.title {
            if TicketFields.trimmed(title).isEmpty { errors.add("title", "must not be empty") }
            errors.maxLength("title", title, TicketFields.maxTitle)
        }
        if let details = request.details { errors.maxLength("details", details, TicketFields.maxDetails) }
        if let priority = request.priority, !TicketFields.isKnown(priority) {
            errors.add("priority", "must be LOW, NORMAL, HIGH or URGENT")
        }
        if let due = request.dueMs {
            errors.checkInstant("due_ms", due)
            if due <= 0 { errors.add("due_ms", "must be a future instant") }
        }
        let newOwner = request.ownerId.map(TicketFields.trimmed)
        if let newOwner {
            if newOwner.isEmpty { errors.add("owner_id", "must not be empty") }
            errors.checkID("owner_id", newOwner)
            if TicketFields.trimmed(request.reason).isEmpty { errors.add("reason", "required with an owner change") }
        }
        errors.maxLength("reason", request.reason, TicketFields.maxReason)
        try errors.throwIfAny()

        // The new owner's team comes from the directory (outside the transaction).
        var newTeam: String?
        if let newOwner {
            let current = try await read { db in try Visibility.loadVisible(db, id: id, for: caller) }
            try Visibility.requireCanReassign(current, caller)
            if newOwner == caller.userID {
                newTeam = caller.team
            } else {
                switch await directory.team(of: newOwner) {
                case .found(let team): newTeam = team
                case .notFound: throw RPCError(.invalidArgument, "owner_id: no user '\(newOwner)'")
                case .unavailable: newTeam = caller.role == .manager ? caller.team : current.teamID
                }
            }
        }
        let team = newTeam
        let ticket = try await write { db in
            var ticket = try Visibility.loadVisible(db, id: id, for: caller)
            try Self.checkVersion(ticket, request.version)
            if newOwner != nil { try Visibility.requireCanReassign(ticket, caller) }
            if request.dueMs != nil || request.priority != nil, !ticket.isActive {
                throw ruleViolation("R9", "ticket \(ticket.id) is \(StatusRules.name(ticket.status)); reopen it before changing its due date or priority")
            }
            if let due = request.dueMs, due <= now {
                throw RPCError(.invalidArgument, "due_ms: must be in the future")
            }
            ticket.recordBreaches(at: now)
            var changed = false
            if let title = request.title, TicketFields.trimmed(title) != ticket.title {
                ticket.title = TicketFields.trimmed(title); changed = true
            }
            if let details = request.details, details != ticket.details { ticket.details = details; changed = true }
            if let due = request.dueMs, due != ticket.dueMs || !ticket.dueExplicit {
                ticket.dueMs = due; ticket.dueExplicit = true; changed = true
            }
            if let priority = request.priority, priority != ticket.priority { ticket.priority = priority; changed = true }
            if changed, request.dueMs != nil || request.priority != nil {
                ticket.applyTargets(try SettingsStore.load(db).target(for: ticket.priority))
            }
            if let newOwner, newOwner != ticket.ownerID {
                try Self.recordOwnerChange(db, ticketID: ticket.id, from: ticket.ownerID, to: newOwner,
                                           actor: caller.userID, at: now, reason: TicketFields.trimmed(request.reason))
                ticket.ownerID = newOwner
                ticket.teamID = team ?? ticket.teamID
                changed = true
            }
            guard changed else { return ticket }  // nothing to change: no new version
            ticket.version += 1
            ticket.updatedAtMs = now
            ticket.recordBreaches(at: now)
            try ticket.update(db)
            return ticket
        }
        return Crm_Tickets_V1_UpdateTicketResponse(ticket: ticket.proto(at: now))
    }
}
