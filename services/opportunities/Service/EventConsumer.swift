import CRMProto
import GRDB
import RPCCore
import ServiceRuntime

/// What crm-opportunities does with the events it consumes (events.proto): a customer's owner change
/// moves that owner's open deals on the customer to the new owner (the customer is a company asset;
/// history stays); a key person who is archived or unflagged in crm-customers leaves the open deals
/// they were key person of, which raises R8 KEY_PERSON_MISSING. Runs inside the inbox transaction
/// of EventSinkService, so each event is applied exactly once.
enum EventConsumer {
    static func apply(_ db: Database, _ event: Event, now: Int64) throws -> EventOutcome {
        let c = WriteContext(db: db, now: now, actorID: event.actorId.isEmpty ? WriteContext.systemActor : event.actorId,
                             actorTeam: event.actorTeamId, requestID: "")
        switch event.kind {
        case .customerOwnerChanged:
            guard let payload = event.customerOwnerChanged else { throw payloadMissing(event) }
            return try ownerChanged(event, payload, c)
        case .contactKeyPersonChanged:
            guard let payload = event.contactKeyPersonChanged else { throw payloadMissing(event) }
            return try keyPersonChanged(event, payload, c)
        default:
            return .ignored
        }
    }

    private static func ownerChanged(_ event: Event, _ payload: Crm_Events_V1_CustomerOwnerChangedPayload,
                                     _ c: WriteContext) throws -> EventOutcome {
        let customerID = event.customerId.isEmpty ? event.aggregateId : event.customerId
        guard !customerID.isEmpty, !payload.toOwnerId.isEmpty else {
            throw RPCError(.invalidArgument, "customer_owner_changed: customer_id and to_owner_id are required")
        }
        let deals = try OpportunityTable.fetchAll(c.db, sql: """
            SELECT record FROM opportunities WHERE customer_id = ? AND owner_id = ? AND status = ? ORDER BY id
            """, arguments: [customerID, payload.fromOwnerId, OpportunityStatus.open.rawValue])
        guard !deals.isEmpty else { return .ignored }
        let settings = try SettingsStore.load(c.db)
        for var o in deals {
            try OpportunityService.reassign(&o, to: payload.toOwnerId, team: event.teamId.isEmpty ? o.teamId : event.teamId, c)
            try OpportunityWrite.commit(&o, settings: settings, c)
        }
        return .applied
    }

    private static func keyPersonChanged(_ event: Event, _ payload: Crm_Events_V1_ContactKeyPersonChangedPayload,
                                         _ c: WriteContext) throws -> EventOutcome {
        let contactID = payload.contactId.isEmpty ? event.contactId : payload.contactId
        guard !contactID.isEmpty else { throw RPCError(.invalidArgument, "contact_key_person_changed: contact_id is required") }
        let deals = try OpportunityTable.fetchAll(c.db, sql: """
            SELECT record FROM opportunities WHERE key_person_contact_id = ? AND status = ? ORDER BY id
            """, arguments: [contactID, OpportunityStatus.open.rawValue])
        guard !deals.isEmpty else { return .ignored }
        let settings = try SettingsStore.load(c.db)
        let gone = payload.archived || !payload.keyPerson
        for var o in deals {
            if gone {
                o.keyPersonContactId = ""
                o.keyPersonName = ""
                o.keyPersonConfirmed = false
                o.keyPersonMet = false
            } else if !payload.name.isEmpty, payload.name != o.keyPersonName {
                o.keyPersonName = payload.name
            } else {
                continue
            }
            try OpportunityWrite.commit(&o, settings: settings, c)
        }
        return .applied
    }

    private static func payloadMissing(_ event: Event) -> RPCError {
        RPCError(.invalidArgument, "event \(event.eventId) of kind \(event.kind.protoName) has no payload")
    }
}
