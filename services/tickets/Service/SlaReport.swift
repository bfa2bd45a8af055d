import CRMProto
import Foundation
import GRDB
import RPCCore
import ServiceRuntime

/// SlaReport: SLA performance of tickets created in [from_ms, to_ms), grouped by owner, team,
/// priority or kind, with a total. Breaches are counted for the ticket's current owner and team.
/// A rep gets their own tickets; a manager their team's; an admin any team or owner.
extension TicketService {
    func slaReport(_ request: Crm_Tickets_V1_SlaReportRequest, context: ServerContext) async throws
        -> Crm_Tickets_V1_SlaReportResponse {
        let caller = try Caller(context: context)
        var errors = FieldErrors()
        let ownerID = TicketFields.trimmed(request.ownerId), teamID = TicketFields.trimmed(request.teamId)
        errors.checkID("owner_id", ownerID)
        errors.checkID("team_id", teamID)
        errors.checkInstant("from_ms", request.fromMs)
        errors.checkInstant("to_ms", request.toMs)
        if request.toMs > 0, request.fromMs >= request.toMs { errors.add("to_ms", "must be after from_ms") }
        Self.checkEnums("kinds", request.kinds, &errors)
        if case .unrecognized = request.groupBy { errors.add("group_by", "must be OWNER, TEAM, PRIORITY or KIND") }
        try errors.throwIfAny()

        var query = TicketQuery(caller: caller)
        switch caller.role {
        case .rep:
            if (!ownerID.isEmpty && ownerID != caller.userID) || !teamID.isEmpty {
                throw RPCError(.permissionDenied, "owner_id: a rep's SLA report covers only their own tickets")
            }
            query.equal("owner_id", caller.userID)
        case .manager:
            if !teamID.isEmpty, teamID != caller.team {
                throw RPCError(.permissionDenied, "team_id: \(caller.userID) manages team '\(caller.team)', not '\(teamID)'")
            }
            query.equal("team_id", teamID.isEmpty ? caller.team : teamID)
            query.equal("owner_id", ownerID)
        case .admin:
            query.equal("team_id", teamID)
            query.equal("owner_id", ownerID)
        }
        if request.fromMs > 0 { query.add("created_at_ms >= ?", [request.fromMs]) }
        if request.toMs > 0 { query.add("created_at_ms < ?", [request.toMs]) }
        query.among("kind", request.kinds.map(\.rawValue))
        let sql = "SELECT * FROM tickets WHERE \(query.whereClause)"
        let arguments = query.arguments
        let now = clock.nowMs()
        let tickets = try await read { db in try TicketRecord.fetchAll(db, sql: sql, arguments: arguments) }

        let groupBy = request.groupBy == .unspecified ? .owner : request.groupBy
        var groups: [String: [TicketRecord]] = [:]
        for ticket in tickets { groups[SlaTally.groupKey(ticket, groupBy), default: []].append(ticket) }
        let rows = groups.keys.sorted().map { key in
            SlaTally.row(groups[key]!, now: now, key: { row in SlaTally.label(&row, groups[key]![0], groupBy) })
        }
        return Crm_Tickets_V1_SlaReportResponse(rows: rows, total: SlaTally.row(tickets, now: now, key: { _ in }),
                                                generatedAtMs: now)
    }
}

/// The arithmetic of one SlaReport row.
enum SlaTally {
    static func groupKey(_ ticket: TicketRecord, _ groupBy: Crm_Tickets_V1_SlaGroupBy) -> String {
        switch groupBy {
        case .team: ticket.teamID
        case .priority: String(format: "%03d", 100 - ticket.priority.rawValue)  // most urgent first
        case .kind: String(format: "%03d", ticket.kind.rawValue)
        default: ticket.ownerID
        }
    }

    static func label(_ row: inout Crm_Tickets_V1_SlaReportRow, _ sample: TicketRecord, _ groupBy: Crm_Tickets_V1_SlaGroupBy) {
        switch groupBy {
        case .team: row.teamId = sample.teamID
        case .priority: row.priority = sample.priority
        case .kind: row.kind = sample.kind
        default:
            row.ownerId = sample.ownerID
            row.teamId = sample.teamID
        }
    }

    static func row(_ tickets: [TicketRecord], now: Int64,
                    key: (inout Crm_Tickets_V1_SlaReportRow) -> Void) -> Crm_Tickets_V1_SlaReportRow {
        var row = Crm_Tickets_V1_SlaReportRow()
        key(&row)
        var breachedTickets = 0
        var responseTimes: [Int64] = [], resolutionTimes: [Int64] = [], satisfaction: [Int32] = []
        for ticket in tickets {
            let clock = SlaClock(ticket)
            let response = clock.responseState(at: now), resolution = clock.resolutionState(at: now)
            row.opened += 1
            if ticket.isActive { row.openNow += 1 } else { row.resolved += 1 }
            if response == .met { row.responseMet += 1 }
            if response == .breached { row.responseBreached += 1 }
            if !ticket.isActive, resolution == .met { row.resolutionMet += 1 }
            if resolution == .breached { row.resolutionBreached += 1 }
            let breached = response == .breached || resolution == .breached
            if breached { breachedTickets += 1 }
            if breached, ticket.isActive { row.openBreachedNow += 1 }
            if ticket.firstResponseAtMs > 0 { responseTimes.append(ticket.firstResponseAtMs - ticket.createdAtMs) }
            if ticket.resolvedAtMs > 0 {
                resolutionTimes.append(max(0, ticket.resolvedAtMs - ticket.createdAtMs - ticket.pausedMs))
            }
            if let outcome = ticket.returnVisit, outcome.satisfaction > 0 { satisfaction.append(outcome.satisfaction) }
        }
        row.breachRate = row.opened == 0 ? 0 : Double(breachedTickets) / Double(row.opened)
        row.medianFirstResponseMs = median(responseTimes)
        row.medianResolutionMs = median(resolutionTimes)
        row.averageSatisfaction = satisfaction.isEmpty ? 0
            : Double(satisfaction.reduce(0) { $0 + Int64($1) }) / Double(satisfaction.count)
        return row
    }

    static func median(_ values: [Int64]) -> Int64 {
        guard !values.isEmpty else { return 0 }
        let sorted = values.sorted()
        let middle = sorted.count / 2
        return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
    }
}
