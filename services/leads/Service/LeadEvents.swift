import CRMProto
import Foundation
import GRDB
import ServiceRuntime

/// Who did something: a user (from the call's identity) or the system (sweeps, rule routing, events).
struct Actor: Sendable, Equatable {
    var id: String
    var team: String

    static let system = Actor(id: "system", team: "")
    init(id: String, team: String) {
        self.id = id
        self.team = team
    }
    init(_ caller: Caller) { self.init(id: caller.userID, team: caller.team) }
}

/// The LEAD_* events of crm.events.v1, written to the outbox in the same transaction as the change
/// (SUITE.md "Between services"). crm-forecast learns every lead event (R12 "leads never followed",
/// source analytics); crm-customers learns conversions (lifecycle, timeline).
enum LeadEvents {
    static let producer = "crm-leads"
    static let destinations = ["forecast", "customers"]

    static func created(_ db: Database, _ lead: LeadRow, actor: Actor, requestID: String, now: Int64) throws {
        try emit(db, .leadCreated, lead, actor: actor, requestID: requestID, now: now) { event in
            event.leadCreated = Crm_Events_V1_LeadCreatedPayload(
                source: lead.leadSource, sourceDetail: lead.sourceDetail, ownerId: lead.ownerId,
                company: lead.company, region: lead.region)
        }
    }

    /// LEAD_ASSIGNED for assignments, claims and returns; LEAD_RECLAIMED for the R2 sweep.
    static func assignment(_ db: Database, _ lead: LeadRow, record: AssignmentRow, actor: Actor,
                           requestID: String, now: Int64) throws {
        let kind = Crm_Leads_V1_AssignmentKind(rawValue: record.kind)
        let payload = Crm_Events_V1_LeadAssignmentPayload(
            assignmentKind: kind, fromOwnerId: record.fromOwnerId, toOwnerId: record.toOwnerId,
            reason: record.reason, activationDeadlineMs: record.activationDeadlineMs, source: lead.leadSource)
        if kind == .reclaimed {
            try emit(db, .leadReclaimed, lead, actor: actor, requestID: requestID, now: now) { $0.leadReclaimed = payload }
        } else {
            try emit(db, .leadAssigned, lead, actor: actor, requestID: requestID, now: now) { $0.leadAssigned = payload }
        }
    }

    static func activated(_ db: Database, _ lead: LeadRow, withinDeadline: Bool, actor: Actor,
                          requestID: String, now: Int64) throws {
        try emit(db, .leadActivated, lead, actor: actor, requestID: requestID, now: now) { event in
            event.leadActivated = Crm_Events_V1_LeadActivatedPayload(
                ownerId: lead.ownerId, assignedAtMs: lead.assignedAtMs, activatedAtMs: lead.activatedAtMs,
                withinDeadline: withinDeadline, source: lead.leadSource)
        }
    }

    static func disqualified(_ db: Database, _ lead: LeadRow, actor: Actor, now: Int64) throws {
        try emit(db, .leadDisqualified, lead, actor: actor, requestID: "", now: now) { event in
            event.leadDisqualified = Crm_Events_V1_LeadDisqualifiedPayload(
                reason: Crm_Leads_V1_DisqualifyReason(rawValue: lead.disqualifyReason), note: lead.disqualifyNote,
                source: lead.leadSource)
        }
    }

    static func converted(_ db: Database, _ lead: LeadRow, actor: Actor, requestID: String, now: Int64) throws {
        try emit(db, .leadConverted, lead, actor: actor, requestID: requestID, now: now) { event in
            event.leadConverted = Crm_Events_V1_LeadConvertedPayload(
                customerId: lead.customerId, opportunityId: lead.opportunityId, source: lead.leadSource,
                sourceDetail: lead.sourceDetail, ownerId: lead.ownerId, convertedAtMs: lead.convertedAtMs)
        }
    }

    private static func emit(_ db: Database, _ kind: Crm_Events_V1_EventKind, _ lead: LeadRow, actor: Actor,
                             requestID: String, now: Int64, payload: (inout Crm_Events_V1_Event) -> Void) throws {
        var event = Crm_Events_V1_Event()
        event.eventId = LeadIDs.make("evt", nowMs: now)
        event.schemaVersion = 1
        event.kind = kind
        event.occurredAtMs = now
        event.sequence = try nextSequence(db)
        event.producer = producer
        event.requestId = requestID
        event.actorId = actor.id
        event.actorTeamId = actor.team
        event.aggregateType = .lead
        event.aggregateId = lead.id
        event.aggregateVersion = lead.version
        event.leadId = lead.id
        event.customerId = lead.customerId
        event.opportunityId = lead.opportunityId
        event.teamId = lead.teamId
        payload(&event)
        let to = kind == .leadConverted ? ["customers", "forecast"] : ["forecast"]
        try enqueue(db, event, to: to)
    }

    /// ServiceRuntime's `Outbox.enqueue` (same table and statement), through a cached statement
    /// because bulk intake queues thousands of events per call.
    private static func enqueue(_ db: Database, _ event: Crm_Events_V1_Event, to destinations: [String]) throws {
        let bytes = Data(event.serializedBytes())
        let statement = try db.cachedStatement(
            sql: "INSERT OR IGNORE INTO outbox (event_id, destination, event) VALUES (?, ?, ?)")
        for destination in destinations {
            try statement.execute(arguments: [event.eventId, destination, bytes])
        }
    }

    /// The producer's monotonic outbox sequence.
    private static func nextSequence(_ db: Database) throws -> Int64 {
        try db.cachedStatement(sql: "UPDATE counters SET value = value + 1 WHERE name = 'event_sequence'").execute()
        return try Int64.fetchOne(db.cachedStatement(sql: "SELECT value FROM counters WHERE name = 'event_sequence'")) ?? 0
    }
}
