import CRMProto
import Foundation
import RPCCore
import ServiceRuntime

/// The ticket lifecycle of R9 (see `TicketStatus` in tickets.proto). Any move not listed is refused
/// with FAILED_PRECONDITION naming the rule and the moves that are allowed from where the ticket is.
enum StatusRules {
    static let allowedMoves: [TicketStatus: [TicketStatus]] = [
        .open: [.inProgress, .waitingOnCustomer, .resolved],
        .inProgress: [.waitingOnCustomer, .resolved],
        .waitingOnCustomer: [.inProgress, .resolved],
        .resolved: [.closed, .inProgress],
        .closed: [.inProgress],
    ]

    static func isReopen(from: TicketStatus, to: TicketStatus) -> Bool {
        (from == .resolved || from == .closed) && to == .inProgress
    }

    static func name(_ status: TicketStatus) -> String {
        status.protoName.replacingOccurrences(of: "TICKET_STATUS_", with: "")
    }

    /// Refuses a move the lifecycle does not allow, or one missing the facts it needs.
    static func check(_ ticket: TicketRecord, _ request: Crm_Tickets_V1_UpdateTicketStatusRequest) throws {
        let from = ticket.status, to = request.toStatus
        let allowed = allowedMoves[from] ?? []
        guard allowed.contains(to) else {
            let options = allowed.isEmpty ? "none" : allowed.map(name).joined(separator: ", ")
            throw ruleViolation("R9", "ticket \(ticket.id) cannot move from \(name(from)) to \(name(to)); "
                + "allowed from \(name(from)): \(options)")
        }
        let reason = TicketFields.trimmed(request.reason)
        if isReopen(from: from, to: to), reason.isEmpty {
            throw ruleViolation("R9", "reason: required to reopen a \(name(from)) ticket")
        }
        if to == .waitingOnCustomer, reason.isEmpty {
            throw ruleViolation("R9", "reason: required to wait on the customer (what are we waiting for?)")
        }
        if to == .resolved, TicketFields.trimmed(request.resolution).isEmpty {
            throw ruleViolation("R9", "resolution: required to resolve a ticket")
        }
        if to == .closed, ticket.kind == .returnVisit {
            // validate() already checked the outcome's values when one is present.
            if request.returnVisit == nil {
                throw ruleViolation("R9", "return_visit: closing a return visit needs its outcome "
                    + "(return_visit.satisfaction 1-5 and return_visit.repurchase_opportunity)")
            }
        }
    }

    /// Shape checks that do not depend on the ticket (INVALID_ARGUMENT naming every field).
    static func validate(_ request: Crm_Tickets_V1_UpdateTicketStatusRequest) throws {
        var errors = FieldErrors()
        if TicketFields.trimmed(request.ticketId).isEmpty { errors.add("ticket_id", "required") }
        errors.checkID("ticket_id", request.ticketId)
        if request.version <= 0 { errors.add("version", "required (the ticket version this move is based on)") }
        if !TicketFields.isKnown(request.toStatus) {
            errors.add("to_status", "must be OPEN, IN_PROGRESS, WAITING_ON_CUSTOMER, RESOLVED or CLOSED")
        }
        errors.maxLength("reason", request.reason, TicketFields.maxReason)
        errors.maxLength("resolution", request.resolution, TicketFields.maxResolution)
        if let outcome = request.returnVisit {
            if request.toStatus != .closed {
                errors.add("return_visit", "only recorded when closing a return visit")
            }
            if !(1...5).contains(outcome.satisfaction) {
                errors.add("return_visit.satisfaction", "must be 1 to 5, got \(outcome.satisfaction)")
            }
            errors.maxLength("return_visit.repurchase_note", outcome.repurchaseNote, TicketFields.maxReason)
            if outcome.repurchaseEstimateCents < 0 {
                errors.add("return_visit.repurchase_estimate_cents", "must not be negative")
            }
            if outcome.repurchaseEstimateCents > 0, !isCurrencyCode(outcome.currency) {
                errors.add("return_visit.currency", "a 3-letter ISO 4217 code is required with an estimate")
            } else if !outcome.currency.isEmpty, !isCurrencyCode(outcome.currency) {
                errors.add("return_visit.currency", "must be a 3-letter ISO 4217 code")
            }
            if !outcome.repurchaseOpportunity, outcome.repurchaseEstimateCents > 0 {
                errors.add("return_visit.repurchase_estimate_cents", "only with repurchase_opportunity")
            }
        }
        try errors.throwIfAny()
    }

    static func isCurrencyCode(_ text: String) -> Bool {
        text.count == 3 && text.unicodeScalars.allSatisfy { ("A"..."Z").contains($0) }
    }
}
