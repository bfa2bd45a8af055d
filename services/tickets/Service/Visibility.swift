import GRDB
import RPCCore
import ServiceRuntime

/// Who may see which ticket (tickets.proto, SUITE.md): a rep sees tickets they own and tickets of
/// customers they own; a manager the team's tickets as well; an admin all. A ticket the caller may
/// not see answers NOT_FOUND, exactly as a missing one.
enum Visibility {
    /// A WHERE fragment over `tickets` and its arguments.
    static func sqlFilter(for caller: Caller) -> (sql: String, arguments: StatementArguments) {
        let ownCustomers = "customer_id IN (SELECT customer_id FROM customers WHERE owner_id = ?)"
        switch caller.role {
        case .admin:
            return ("1", [])
        case .manager where !caller.team.isEmpty:
            return ("(team_id = ? OR owner_id = ? OR \(ownCustomers))", [caller.team, caller.userID, caller.userID])
        case .manager, .rep:
            // A manager without a team sees what a rep would.
            return ("(owner_id = ? OR \(ownCustomers))", [caller.userID, caller.userID])
        }
    }

    static func canSee(_ ticket: TicketRecord, _ caller: Caller, _ db: Database) throws -> Bool {
        switch caller.role {
        case .admin: return true
        case .manager where !caller.team.isEmpty && ticket.teamID == caller.team: return true
        default: if ticket.ownerID == caller.userID { return true }
        }
        let customerOwner = try String.fetchOne(db, sql: "SELECT owner_id FROM customers WHERE customer_id = ?",
                                                arguments: [ticket.customerID])
        return customerOwner == caller.userID
    }

    /// The ticket, or NOT_FOUND when it does not exist or the caller may not see it.
    static func loadVisible(_ db: Database, id: String, for caller: Caller) throws -> TicketRecord {
        guard let ticket = try TicketRecord.fetch(db, id: id), try canSee(ticket, caller, db) else {
            throw RPCError(.notFound, "ticket_id: no ticket '\(id)'")
        }
        return ticket
    }

    /// Changing who owns a ticket: the ticket team's manager or an admin.
    static func requireCanReassign(_ ticket: TicketRecord, _ caller: Caller) throws {
        switch caller.role {
        case .admin: return
        case .manager where !caller.team.isEmpty && caller.team == ticket.teamID: return
        case .manager:
            throw RPCError(.permissionDenied, "owner_id: only a manager of team '\(ticket.teamID)' or an admin may reassign ticket \(ticket.id)")
        case .rep:
            throw RPCError(.permissionDenied, "owner_id: reassigning a ticket needs its team's manager or an admin; \(caller.userID) is a rep")
        }
    }
}

/// Caller identity for the handlers: every call carries a user, except system calls made with the
/// service token alone (sweeps triggered by other processes).
extension Caller {
    static func optional(_ context: ServerContext) throws -> Caller? {
        let user = context.requestMetadata[Caller.userKey] ?? ""
        let role = context.requestMetadata[Caller.roleKey] ?? ""
        if user.isEmpty && role.isEmpty { return nil }
        return try Caller(context: context)
    }
}
