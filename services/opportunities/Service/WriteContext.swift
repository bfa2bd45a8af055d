import GRDB

/// Everything a write needs besides its inputs: the open transaction, the instant it happens at
/// (the injected clock, read once so one request sees one "now"), and who acts, for records and events.
struct WriteContext {
    let db: Database
    let now: Int64
    /// A user id, or "system" for sweeps and consumed events.
    let actorID: String
    let actorTeam: String
    /// The request's idempotency key, carried into events (empty when none).
    let requestID: String

    static let systemActor = "system"
}
