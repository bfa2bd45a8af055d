import CRMProto
import GRDB
import ServiceRuntime

typealias Event = Crm_Events_V1_Event

/// Events crm-customers produces, written to the outbox in the request's transaction and delivered by
/// the OutboxRelay to the services that consume them (events.proto "Producers and consumers").
enum OutboundEvents {
    static let producer = "crm-customers"

    /// Consumers of each kind this service produces. A kind nobody consumes is not queued.
    static let routes: [Crm_Events_V1_EventKind: [String]] = [
        // crm-tickets keeps each customer's name and owner for ticket visibility and display.
        .customerCreated: ["tickets"],
        .customerOwnerChanged: ["opportunities", "tickets"],
        .customerArchived: ["opportunities"],
        .contactKeyPersonChanged: ["opportunities"],
    ]

    /// Every destination the relay delivers to.
    static var destinations: [String] { Array(Set(routes.values.flatMap { $0 })).sorted() }

    /// An envelope about `customer` (its id, team and version after the change), acted by `actor`.
    static func envelope(_ kind: Crm_Events_V1_EventKind, customer: Customer, actor: Caller, requestID: String,
                         nowMs: Int64) -> Event {
        var event = Event()
        event.eventId = RecordID.make("evt", nowMs: nowMs)
        event.schemaVersion = 1
        event.kind = kind
        event.occurredAtMs = nowMs
        event.producer = producer
        event.requestId = requestID
        event.actorId = actor.userID
        event.actorTeamId = actor.team
        event.aggregateType = .customer
        event.aggregateId = customer.id
        event.aggregateVersion = customer.version
        event.customerId = customer.id
        event.leadId = customer.leadId
        event.teamId = customer.teamId
        return event
    }

    /// Queues `event` for its consumers inside the caller's transaction; returns whether anything was queued.
    @discardableResult
    static func emit(_ db: Database, _ event: Event) throws -> Bool {
        guard let destinations = routes[event.kind], !destinations.isEmpty else { return false }
        var event = event
        event.sequence = (try Int64.fetchOne(db, sql: "SELECT MAX(seq) FROM outbox") ?? 0) + 1
        try Outbox.enqueue(db, event, to: destinations)
        return true
    }

    static func ownerChanged(_ db: Database, customer: Customer, from: String, reason: String, actor: Caller,
                             nowMs: Int64) throws {
        var event = envelope(.customerOwnerChanged, customer: customer, actor: actor, requestID: "", nowMs: nowMs)
        event.customerOwnerChanged = Crm_Events_V1_CustomerOwnerChangedPayload(
            fromOwnerId: from, toOwnerId: customer.ownerId, reason: reason)
        try emit(db, event)
    }

    static func archived(_ db: Database, customer: Customer, reason: String, actor: Caller, nowMs: Int64) throws {
        var event = envelope(.customerArchived, customer: customer, actor: actor, requestID: "", nowMs: nowMs)
        event.customerArchived = Crm_Events_V1_CustomerArchivedPayload(reason: reason)
        try emit(db, event)
    }

    /// R3/R8: a key person was flagged, unflagged or archived.
    static func keyPersonChanged(_ db: Database, customer: Customer, contact: Contact, actor: Caller,
                                 requestID: String, nowMs: Int64) throws {
        var event = envelope(.contactKeyPersonChanged, customer: customer, actor: actor, requestID: requestID, nowMs: nowMs)
        event.aggregateType = .contact
        event.aggregateId = contact.id
        event.aggregateVersion = contact.version
        event.contactId = contact.id
        event.contactKeyPersonChanged = Crm_Events_V1_ContactKeyPersonChangedPayload(
            contactId: contact.id, keyPerson: contact.keyPerson, archived: contact.archived, name: contact.name)
        try emit(db, event)
    }
}

extension OutboundEvents {
    static func created(_ db: Database, customer: Customer, actor: Caller, requestID: String, nowMs: Int64) throws {
        var event = envelope(.customerCreated, customer: customer, actor: actor, requestID: requestID, nowMs: nowMs)
        event.customerCreated = Crm_Events_V1_CustomerCreatedPayload(
            name: customer.name, ownerId: customer.ownerId, lifecycleStatus: customer.lifecycleStatus, source: customer.source)
        try emit(db, event)
    }

    static func statusChanged(_ db: Database, customer: Customer, transition: LifecycleTransition, actor: Caller,
                              nowMs: Int64) throws {
        var event = envelope(.customerStatusChanged, customer: customer, actor: actor, requestID: "", nowMs: nowMs)
        event.customerStatusChanged = Crm_Events_V1_CustomerStatusChangedPayload(
            fromStatus: transition.fromStatus, toStatus: transition.toStatus, reason: transition.reason,
            trigger: transition.trigger, causeEventId: transition.eventId)
        try emit(db, event)
    }

    static func keyChanged(_ db: Database, customer: Customer, reason: String, actor: Caller, nowMs: Int64) throws {
        var event = envelope(.customerKeyChanged, customer: customer, actor: actor, requestID: "", nowMs: nowMs)
        event.customerKeyChanged = Crm_Events_V1_CustomerKeyChangedPayload(key: customer.key, reason: reason, grade: customer.grade)
        try emit(db, event)
    }
}
