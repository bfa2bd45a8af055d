import CRMProto
import GRDB
import RPCCore
import ServiceRuntime

/// ListDue (R6): an owner's (or a manager's team's) tickets that still need work and are due before
/// `until_ms` (default: end of the current UTC day), or near or past an SLA target. One entry per
/// ticket, for its most pressing deadline; breached first, then near, then by deadline.
extension TicketService {
    func listDue(_ request: Crm_Tickets_V1_ListDueRequest, context: ServerContext) async throws
        -> Crm_Tickets_V1_ListDueResponse {
        let caller = try Caller(context: context)
        var errors = FieldErrors()
        let ownerID = TicketFields.trimmed(request.ownerId), teamID = TicketFields.trimmed(request.teamId)
        errors.checkID("owner_id", ownerID)
        errors.checkID("team_id", teamID)
        errors.checkInstant("until_ms", request.untilMs)
        if request.pageSize < 0 { errors.add("page_size", "must not be negative") }
        try errors.throwIfAny()
        let pageSize = try PageToken.pageSize(request.pageSize)
        var after: DueKey?
        if let parts = try PageToken.decode(request.pageToken, parts: 3) {
            guard let rank = Int(parts[0]), let at = Int64(parts[1]) else {
                throw RPCError(.invalidArgument, "page_token: malformed")
            }
            after = DueKey(rank: rank, at: at, id: parts[2])
        }

        // Whose list: a rep sees their own; a manager their own, a team member's or the team's.
        var query = TicketQuery(caller: caller)
        query.add("status IN \(TicketFields.activeStatusSQL)")
        switch caller.role {
        case .rep:
            if !teamID.isEmpty || (!ownerID.isEmpty && ownerID != caller.userID) {
                throw RPCError(.permissionDenied, "owner_id: a rep sees only their own due list; \(caller.userID) asked for \(ownerID.isEmpty ? "team " + teamID : ownerID)")
            }
            query.equal("owner_id", caller.userID)
        case .manager:
            if !teamID.isEmpty, teamID != caller.team {
                throw RPCError(.permissionDenied, "team_id: \(caller.userID) manages team '\(caller.team)', not '\(teamID)'")
            }
            if !teamID.isEmpty { query.equal("team_id", teamID) }
            query.equal("owner_id", ownerID.isEmpty && teamID.isEmpty ? caller.userID : ownerID)
        case .admin:
            query.equal("team_id", teamID)
            query.equal("owner_id", ownerID.isEmpty && teamID.isEmpty ? caller.userID : ownerID)
        }

        let now = clock.nowMs()
        let until = request.untilMs > 0 ? request.untilMs : (now / Millis.day + 1) * Millis.day
        let sql = "SELECT * FROM tickets WHERE \(query.whereClause)"
        let arguments = query.arguments
        let tickets = try await read { db in try TicketRecord.fetchAll(db, sql: sql, arguments: arguments) }
        var due = tickets.compactMap { DueEntry.mostPressing($0, now: now, until: until) }
        due.sort { $0.key < $1.key }
        if let after { due = due.filter { after < $0.key } }
        var response = Crm_Tickets_V1_ListDueResponse(tickets: due.prefix(pageSize).map { entry in
            Crm_Tickets_V1_DueTicket(ticket: entry.ticket.proto(at: now), dueKind: entry.kind, dueAtMs: entry.key.at,
                                     state: entry.state)
        })
        if due.count > pageSize, let last = due.prefix(pageSize).last {
            response.nextPageToken = PageToken.encode([String(last.key.rank), String(last.key.at), last.key.id])
        }
        return response
    }
}

/// Order of the due list: breached (rank 0), near (1), merely due (2); then deadline; then id.
struct DueKey: Comparable {
    var rank: Int
    var at: Int64
    var id: String

    static func < (a: DueKey, b: DueKey) -> Bool {
        (a.rank, a.at, a.id) < (b.rank, b.at, b.id)
    }
}

struct DueEntry {
    var ticket: TicketRecord
    var kind: Crm_Tickets_V1_DueKind
    var state: SlaState
    var key: DueKey

    /// The ticket's most pressing reason to be on the list, if it has one.
    static func mostPressing(_ ticket: TicketRecord, now: Int64, until: Int64) -> DueEntry? {
        let clock = SlaClock(ticket)
        var candidates: [DueEntry] = []
        func consider(_ kind: Crm_Tickets_V1_DueKind, _ state: SlaState, _ at: Int64) {
            let rank = state == .breached ? 0 : state == .near ? 1 : 2
            candidates.append(DueEntry(ticket: ticket, kind: kind, state: state, key: DueKey(rank: rank, at: at, id: ticket.id)))
        }
        // The response clock matters only until someone answered.
        if ticket.firstResponseAtMs == 0 {
            let state = clock.responseState(at: now)
            if state == .near || state == .breached { consider(.slaResponse, state, ticket.responseDueMs) }
        }
        let resolution = clock.resolutionState(at: now)
        if (resolution == .near || resolution == .breached) && clock.resolutionRunning {
            consider(.slaResolution, resolution, ticket.resolutionDueMs)
        }
        if ticket.dueMs > 0, ticket.dueMs < until {
            consider(.dueDate, ticket.dueMs <= now ? .breached : .onTrack, ticket.dueMs)
        }
        return candidates.min { $0.key < $1.key }
    }
}

extension SlaClock {
    /// Whether the resolution clock is still the owner's concern (not resolved yet).
    var resolutionRunning: Bool { ticket.isActive }
}
