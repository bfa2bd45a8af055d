import CRMProto
import CRMStore
import Foundation
import GRDB
import Logging
import RPCCore
import ServiceRuntime

/// `crm.tickets.v1.TicketService`: the after-sales line of R9. Each method lives in its own file
/// (CreateTicket.swift, StatusChange.swift, …); this type holds what they share.
struct TicketService: Crm_Tickets_V1_TicketServiceHandler {
    let store: Store
    let clock: any WallClock
    let directory: Directory
    let relay: OutboxRelay
    let logger: Logger

    /// Runs one write transaction (one request, one transaction) and wakes the outbox relay, since
    /// most writes enqueue events.
    func write<T: Sendable>(_ body: @Sendable @escaping (Database) throws -> T) async throws -> T {
        do {
            let result = try await store.write(body)
            relay.wake()
            return result
        } catch let error as DatabaseError {
            throw Self.translate(error)
        }
    }

    /// A consistent read of the store.
    func read<T: Sendable>(_ body: @Sendable @escaping (Database) throws -> T) async throws -> T {
        do {
            return try await store.read(body)
        } catch let error as DatabaseError {
            throw Self.translate(error)
        }
    }

    /// Storage trouble a client can act on gets a status that says so, rather than INTERNAL.
    static func translate(_ error: DatabaseError) -> any Error {
        switch error.resultCode {
        case .SQLITE_BUSY, .SQLITE_LOCKED:
            RPCError(.unavailable, "the ticket store is busy; retry")
        case .SQLITE_CONSTRAINT:
            RPCError(.aborted, "a concurrent change conflicts with this one; reload and retry")
        case .SQLITE_FULL:
            RPCError(.resourceExhausted, "the ticket store is full")
        default:
            error
        }
    }

    /// ABORTED naming the current version when an update is based on an older (or newer) one.
    static func checkVersion(_ ticket: TicketRecord, _ version: Int64) throws {
        guard ticket.version == version else {
            throw RPCError(.aborted, "version: ticket \(ticket.id) is at version \(ticket.version), not \(version); reload and retry")
        }
    }

    /// Records a status move in the ticket's history.
    static func recordTransition(_ db: Database, ticketID: String, from: TicketStatus, to: TicketStatus,
                                 actor: String, at now: Int64, reason: String) throws -> Crm_Tickets_V1_StatusTransition {
        try db.execute(sql: """
            INSERT INTO status_history (ticket_id, from_status, to_status, actor_id, at_ms, reason) VALUES (?, ?, ?, ?, ?, ?)
            """, arguments: [ticketID, from.rawValue, to.rawValue, actor, now, reason])
        return Crm_Tickets_V1_StatusTransition(fromStatus: from, toStatus: to, actorId: actor, atMs: now, reason: reason)
    }

    static func recordOwnerChange(_ db: Database, ticketID: String, from: String, to: String,
                                  actor: String, at now: Int64, reason: String) throws {
        try db.execute(sql: """
            INSERT INTO owner_changes (ticket_id, from_owner_id, to_owner_id, actor_id, at_ms, reason) VALUES (?, ?, ?, ?, ?, ?)
            """, arguments: [ticketID, from, to, actor, now, reason])
    }

    /// Keeps the local copy of a customer's name and owner current (visibility, display).
    static func rememberCustomer(_ db: Database, id: String, name: String?, ownerID: String?, teamID: String?,
                                 now: Int64, onlyIfUnknown: Bool = false) throws {
        let exists = try Bool.fetchOne(db, sql: "SELECT 1 FROM customers WHERE customer_id = ?", arguments: [id]) ?? false
        if exists {
            if onlyIfUnknown { return }
            if let name, !name.isEmpty {
                try db.execute(sql: "UPDATE customers SET name = ?, updated_at_ms = ? WHERE customer_id = ?", arguments: [name, now, id])
            }
            if let ownerID, !ownerID.isEmpty {
                try db.execute(sql: "UPDATE customers SET owner_id = ?, updated_at_ms = ? WHERE customer_id = ?", arguments: [ownerID, now, id])
            }
            if let teamID, !teamID.isEmpty {
                try db.execute(sql: "UPDATE customers SET team_id = ?, updated_at_ms = ? WHERE customer_id = ?", arguments: [teamID, now, id])
            }
        } else {
            try db.execute(sql: "INSERT INTO customers (customer_id, name, owner_id, team_id, updated_at_ms) VALUES (?, ?, ?, ?, ?)",
                           arguments: [id, name ?? "", ownerID ?? "", teamID ?? "", now])
        }
    }
}
