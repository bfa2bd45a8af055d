import CRMProto

/// The two SLA clocks of a ticket (response and resolution targets per priority), evaluated at any
/// instant from stored timestamps, so answers are right between sweeps and tests can drive time.
///
/// - Response: met by the first customer-facing comment by staff or the first move out of OPEN.
/// - Resolution: met by reaching RESOLVED; a reopen restarts the wait for it against the same target.
/// - Time WAITING_ON_CUSTOMER pauses the clocks: while waiting they are evaluated at the moment the
///   wait began, and leaving the wait pushes the resolution target back by its length.
/// - NEAR: within `warn_before_ms` of a target; BREACHED: past it. A breach, once it happened, stays
///   (it is counted per owner and team), even if the priority is later lowered.
struct SlaClock {
    let ticket: TicketRecord

    init(_ ticket: TicketRecord) { self.ticket = ticket }

    /// The instant the clocks read: frozen at the start of a wait.
    func clockTime(at now: Int64) -> Int64 {
        ticket.status == .waitingOnCustomer && ticket.waitingSinceMs > 0 ? ticket.waitingSinceMs : now
    }

    /// Paused time including a wait still in progress.
    func pausedMs(at now: Int64) -> Int64 {
        guard ticket.status == .waitingOnCustomer, ticket.waitingSinceMs > 0 else { return ticket.pausedMs }
        return ticket.pausedMs.plus(max(0, now - ticket.waitingSinceMs))
    }

    func responseState(at now: Int64) -> SlaState {
        if ticket.responseBreachedAtMs != nil { return .breached }
        if ticket.firstResponseAtMs > 0 {
            return ticket.firstResponseAtMs <= ticket.responseDueMs ? .met : .breached
        }
        if !ticket.isActive { return .met }
        return running(due: ticket.responseDueMs, at: clockTime(at: now))
    }

    func resolutionState(at now: Int64) -> SlaState {
        if ticket.resolutionBreachedAtMs != nil { return .breached }
        if !ticket.isActive {
            return ticket.resolvedAtMs > ticket.resolutionDueMs ? .breached : .met
        }
        return running(due: ticket.resolutionDueMs, at: clockTime(at: now))
    }

    private func running(due: Int64, at time: Int64) -> SlaState {
        if time >= due { return .breached }
        if ticket.warnBeforeMs > 0, time >= due - ticket.warnBeforeMs { return .near }
        return .onTrack
    }

    /// SQL twin of "breached at :now" for list filters (bind `now` twice); kept next to the Swift
    /// rules above so the two cannot drift apart unnoticed.
    static let breachedSQL = """
        (response_breached_at_ms IS NOT NULL OR resolution_breached_at_ms IS NOT NULL
         OR (first_response_at_ms > response_due_ms)
         OR (status IN (4, 5) AND resolved_at_ms > resolution_due_ms)
         OR (status IN (1, 2, 3) AND first_response_at_ms = 0
             AND response_due_ms <= (CASE WHEN status = 3 AND waiting_since_ms > 0 THEN waiting_since_ms ELSE ? END))
         OR (status IN (1, 2, 3)
             AND resolution_due_ms <= (CASE WHEN status = 3 AND waiting_since_ms > 0 THEN waiting_since_ms ELSE ? END)))
        """
}

extension TicketRecord {
    /// Sets the targets of `priority` from settings, counted from creation, plus paused time. An
    /// explicit due date later than the resolution target becomes the target (scheduled work such as
    /// a return visit in 30 days is not late before its date).
    mutating func applyTargets(_ target: SlaTarget) {
        responseDueMs = createdAtMs.plus(target.responseMs)
        var resolution = createdAtMs.plus(target.resolutionMs)
        if dueExplicit, dueMs > resolution { resolution = dueMs }
        resolutionDueMs = resolution.plus(pausedMs)
        warnBeforeMs = target.warnBeforeMs
    }

    /// Makes breaches permanent the moment they are observed (writes and sweeps call this).
    mutating func recordBreaches(at now: Int64) {
        let clock = SlaClock(self)
        if responseBreachedAtMs == nil, clock.responseState(at: now) == .breached {
            responseBreachedAtMs = responseDueMs
        }
        if resolutionBreachedAtMs == nil, clock.resolutionState(at: now) == .breached {
            resolutionBreachedAtMs = resolutionDueMs
        }
    }

    /// Staff answered the customer (first response), if nobody had yet.
    mutating func noteFirstResponse(at now: Int64) {
        if firstResponseAtMs == 0 { firstResponseAtMs = now }
    }
}
