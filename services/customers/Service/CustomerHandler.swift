import CRMProto
import CRMStore
import Foundation
import GRDB
import Logging
import RPCCore
import ServiceRuntime

/// `crm.customers.v1.CustomerService`. The methods live in one extension per concern
/// (CreateCustomer.swift, CustomerQueries.swift, CustomerList.swift, CustomerEdits.swift, Ownership.swift,
/// Contacts.swift, Focus.swift, Timeline.swift, Admin.swift, ExportImport.swift); this file holds what they share.
struct CustomerHandler: Crm_Customers_V1_CustomerServiceHandler {
    let store: Store
    let clock: any WallClock
    let directory: UserDirectory
    /// Woken after a transaction that queued events, so delivery starts at once.
    let wakeRelay: @Sendable () -> Void
    let logger: Logger

    /// One request, one transaction; store failures become statuses a client can act on, never a crash.
    func write<T: Sendable>(_ body: @Sendable @escaping (Database) throws -> T) async throws -> T {
        do {
            return try await store.write(body)
        } catch let error as DatabaseError {
            throw StoreFailure.status(error, logger: logger)
        }
    }

    func read<T: Sendable>(_ body: @Sendable @escaping (Database) throws -> T) async throws -> T {
        do {
            return try await store.read(body)
        } catch let error as DatabaseError {
            throw StoreFailure.status(error, logger: logger)
        }
    }

    /// A point read (one customer by id), on the calling thread.
    func pointRead<T>(_ body: (Database) throws -> T) throws -> T {
        do {
            return try store.readHere(body)
        } catch let error as DatabaseError {
            throw StoreFailure.status(error, logger: logger)
        }
    }

    /// The team a new owner belongs to, from the gateway's directory. A rep may only name themselves;
    /// a manager only users of their own team. When the directory cannot be reached, a manager's team
    /// (or `fallbackTeam`) is used so the suite keeps working while the gateway restarts.
    func teamOfOwner(_ owner: String, field: String, caller: Caller, fallbackTeam: String) async throws -> String {
        if owner == caller.userID { return caller.team }
        guard caller.isManagerOrAdmin else {
            throw RPCError(.permissionDenied, "\(field): a rep cannot give a customer to another user (\(owner))")
        }
        switch await directory.lookup(owner) {
        case .found(let team, let active):
            guard active else { throw RPCError(.invalidArgument, "\(field): user \(owner) is deactivated") }
            if caller.role == .manager, team != caller.team {
                throw RPCError(.permissionDenied, "\(field): \(owner) is in team '\(team)'; a manager assigns within team '\(caller.team)'")
            }
            return team
        case .unknown:
            throw RPCError(.invalidArgument, "\(field): no user \(owner) in the directory")
        case .unavailable:
            return caller.role == .manager ? caller.team : fallbackTeam
        }
    }
}

/// Maps SQLite failures to gRPC statuses: contention and constraint races are retryable, a full disk
/// is RESOURCE_EXHAUSTED, anything else is logged and reported as INTERNAL (a real server fault).
enum StoreFailure {
    static func status(_ error: DatabaseError, logger: Logger) -> RPCError {
        switch error.resultCode {
        case .SQLITE_BUSY, .SQLITE_LOCKED:
            return RPCError(.unavailable, "the store is busy; retry")
        case .SQLITE_CONSTRAINT:
            return RPCError(.aborted, "a concurrent change conflicted with this one; retry")
        case .SQLITE_FULL:
            return RPCError(.resourceExhausted, "the store is full")
        default:
            logger.error("store failure", metadata: ["error": "\(error)"])
            return RPCError(.internal, "store failure")
        }
    }
}
