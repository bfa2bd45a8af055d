import CRMProto

/// The R2 activation clock of a lead: started by every assignment, stopped by the pool, and the
/// state it is in at a given "now" (always the injected clock's, never the system time).
extension LeadRow {
    /// Starts (or restarts) the R2 activation clock for a new owner.
    mutating func assign(to owner: String, team: String, now: Int64, windowMs: Int64) {
        status = Crm_Leads_V1_LeadStatus.assigned.rawValue
        ownerId = owner
        teamId = team
        assignedAtMs = now
        activationDeadlineMs = now.addingClamped(windowMs)
        warnedAtMs = 0
        activatedAtMs = 0
        if firstAssignedAtMs == 0 { firstAssignedAtMs = now }
    }

    /// Back to the pool: unowned, no clock running.
    mutating func returnToPool() {
        status = Crm_Leads_V1_LeadStatus.pool.rawValue
        ownerId = ""
        teamId = ""
        assignedAtMs = 0
        activationDeadlineMs = 0
        warnedAtMs = 0
        activatedAtMs = 0
        everInPool = true
    }

    /// The R2 state as of `now` (WARNING once less than `warningBeforeMs` is left).
    func activationState(now: Int64, warningBeforeMs: Int64) -> Crm_Leads_V1_ActivationState {
        switch leadStatus {
        case .assigned:
            if now >= activationDeadlineMs { return .overdue }
            if now >= activationDeadlineMs.subtractingClamped(warningBeforeMs) { return .warning }
            return .onTrack
        case .activated, .converting, .converted:
            return activatedAtMs > 0 || firstActivatedAtMs > 0 ? .activated : .notApplicable
        default:
            return .notApplicable
        }
    }
}
