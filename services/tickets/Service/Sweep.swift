import CRMProto
import CRMStore
import GRDB
import Logging
import RPCCore
import ServiceRuntime

/// The SLA sweep: re-evaluates the clocks of every ticket that still needs work at the injected
/// clock's "now", makes breaches permanent, and reports what became NEAR or BREACHED since the last
/// sweep. It runs in the background every `sweep_interval_ms` and on demand through RunSweep.
/// Sweeping changes derived SLA flags only, never a ticket's fields, so it does not bump versions
/// (an editor holding a ticket is never ABORTED by the clock).
enum SlaSweep {
    struct Outcome: Sendable {
        var newlyNear: [String] = []
        var newlyBreached: [String] = []
    }

    static func run(_ db: Database, now: Int64, dryRun: Bool) throws -> Outcome {
        var outcome = Outcome()
        let tickets = try TicketRecord.fetchAll(db, sql: "SELECT * FROM tickets WHERE status IN \(TicketFields.activeStatusSQL) ORDER BY id")
        for original in tickets {
            var ticket = original
            ticket.recordBreaches(at: now)
            let clock = SlaClock(ticket)
            let response = clock.responseState(at: now)
            let resolution = clock.resolutionState(at: now)
            let clocks = [(before: original.sweptResponseState, after: response),
                          (before: original.sweptResolutionState, after: resolution)]
            if clocks.contains(where: { $0.after == .breached && $0.before != .breached }) {
                outcome.newlyBreached.append(ticket.id)
            } else if clocks.contains(where: { $0.after == .near && $0.before != .near && $0.before != .breached }) {
                outcome.newlyNear.append(ticket.id)
            }
            ticket.sweptResponseState = response
            ticket.sweptResolutionState = resolution
            if !dryRun, ticket != original { try ticket.update(db) }
        }
        return outcome
    }

    /// The background job: sweeps, then sleeps for the configured interval (re-read every round).
    static func loop(store: Store, clock: any WallClock, logger: Logger) -> @Sendable () async -> Void {
        {
            while !Task.isCancelled {
                var interval = DefaultSettings.sweepIntervalMs
                do {
                    interval = try await store.write { db in
                        let outcome = try run(db, now: clock.nowMs(), dryRun: false)
                        if !outcome.newlyBreached.isEmpty {
                            logger.info("SLA breaches", metadata: ["tickets": "\(outcome.newlyBreached)"])
                        }
                        return try SettingsStore.load(db).sweepIntervalMs
                    }
                } catch {
                    logger.error("SLA sweep failed", metadata: ["error": "\(error)"])
                }
                try? await Task.sleep(for: .milliseconds(max(interval, SettingsValidation.minSweepIntervalMs)))
            }
        }
    }
}

extension TicketService {
    func runSweep(_ request: Crm_Tickets_V1_RunSweepRequest, context: ServerContext) async throws
        -> Crm_Tickets_V1_RunSweepResponse {
        // Admins, or the suite itself (service token without a user).
        if let caller = try Caller.optional(context), caller.role != .admin {
            throw RPCError(.permissionDenied, "RunSweep needs an admin; \(caller.userID) is a \(caller.role.rawValue)")
        }
        let now = clock.nowMs()
        let outcome = try await write { db in try SlaSweep.run(db, now: now, dryRun: request.dryRun) }
        return Crm_Tickets_V1_RunSweepResponse(newlyNearTicketIds: outcome.newlyNear,
                                               newlyBreachedTicketIds: outcome.newlyBreached, sweptAtMs: now)
    }
}
