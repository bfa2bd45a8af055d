import CRMProto
import CRMStore
import GRDB
import Logging
import RPCCore
import ServiceRuntime

/// `crm.leads.v1.LeadService`: the lead line of PRODUCT.md (R1 intake, pool and assignment, R2
/// activation, qualification, conversion, source analytics). The methods live in extensions grouped
/// by job (IntakeHandler, PoolHandler, ActivationHandler, …); this file holds what they share.
public struct LeadHandler: Crm_Leads_V1_LeadServiceHandler {
    let store: Store
    let clock: any WallClock
    let directory: UserDirectory
    let peers: Peers
    let relay: OutboxRelay
    let conversionLocks: ConversionLocks
    let logger: Logger

    init(store: Store, clock: any WallClock, directory: UserDirectory, peers: Peers, relay: OutboxRelay,
         logger: Logger) {
        self.store = store
        self.clock = clock
        self.directory = directory
        self.peers = peers
        self.relay = relay
        conversionLocks = ConversionLocks()
        self.logger = logger
    }

    /// The caller from the gateway's identity metadata (UNAUTHENTICATED when absent).
    func caller(_ context: ServerContext) throws -> Caller { try Caller(context: context) }

    /// Runs a handler body, turning store failures and internal error types into the statuses
    /// SUITE.md promises, so no input produces INTERNAL.
    func guarded<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as RPCError {
            throw error
        } catch let problems as FieldProblems {
            throw problems.rpcError
        } catch let duplicate as DuplicateLead {
            throw duplicate.rpcError
        } catch let error as DatabaseError {
            switch error.resultCode {
            case .SQLITE_BUSY, .SQLITE_LOCKED:
                throw RPCError(.unavailable, "the lead store is busy; retry")
            case .SQLITE_FULL, .SQLITE_IOERR:
                throw RPCError(.unavailable, "the lead store cannot write: \(error.message ?? "\(error.resultCode)")")
            default:
                logger.error("store error", metadata: ["error": "\(error)"])
                throw RPCError(.internal, "store error: \(error.resultCode)")
            }
        } catch is CancellationError {
            throw RPCError(.cancelled, "the call was cancelled")
        }
    }

    /// The lead, if it exists and the caller may see it; NOT_FOUND otherwise (same answer for both).
    static func visibleLead(_ db: Database, id: String, caller: Caller) throws -> LeadRow {
        guard let lead = try LeadRow.fetch(db, id: id), LeadVisibility.canSee(caller, lead) else {
            throw RPCError(.notFound, "lead '\(id)' not found")
        }
        return lead
    }

    /// ABORTED naming the current version when the caller changed an older one (0 = not checked).
    static func checkVersion(_ lead: LeadRow, _ expected: Int64) throws {
        if expected != 0 && expected != lead.version {
            throw RPCError(.aborted, "version: lead \(lead.id) is at version \(lead.version), not \(expected)")
        }
    }

    static func requireVersion(_ expected: Int64) throws {
        if expected <= 0 { throw RPCError(.invalidArgument, "version: required (the version this change is based on)") }
    }

    static func requireID(_ field: String, _ value: String) throws {
        if value.isEmpty { throw RPCError(.invalidArgument, "\(field): required") }
    }
}

/// SUITE.md visibility for leads: a rep sees own leads and the pool, a manager the team's (and the
/// pool, and own), an admin all.
enum LeadVisibility {
    static func canSee(_ caller: Caller, _ lead: LeadRow) -> Bool {
        if lead.ownerId.isEmpty { return true }
        switch caller.role {
        case .admin: return true
        case .manager: return lead.ownerId == caller.userID || (!caller.team.isEmpty && lead.teamId == caller.team)
        case .rep: return lead.ownerId == caller.userID
        }
    }

    /// The same rule as an SQL condition on `leads` with its arguments.
    static func sql(_ caller: Caller) -> (String, StatementArguments) {
        switch caller.role {
        case .admin: return ("1", [])
        case .manager:
            if caller.team.isEmpty { return ("(owner_id = '' OR owner_id = ?)", [caller.userID]) }
            return ("(owner_id = '' OR owner_id = ? OR team_id = ?)", [caller.userID, caller.team])
        case .rep: return ("(owner_id = '' OR owner_id = ?)", [caller.userID])
        }
    }

    /// May act on a lead someone owns: its owner, a manager of its team, an admin.
    static func canManage(_ caller: Caller, _ lead: LeadRow) -> Bool {
        switch caller.role {
        case .admin: return true
        case .manager: return lead.ownerId == caller.userID || lead.ownerId.isEmpty
            || (!caller.team.isEmpty && lead.teamId == caller.team)
        case .rep: return lead.ownerId == caller.userID
        }
    }
}
