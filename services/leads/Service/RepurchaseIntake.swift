import CRMProto
import Foundation
import GRDB
import RPCCore
import ServiceRuntime

/// Turns recorded repurchase needs (TICKET_CLOSED events) into leads with source
/// EXISTING_CUSTOMER_REPURCHASE. The R1 contact method comes from crm-customers (the ticket's contact,
/// else the customer's key person, else the customer's own phone/email), so this runs outside the event
/// transaction and retries with backoff while crm-customers is unreachable. Each need becomes at most
/// one lead (idempotency key derived from the event id).
struct RepurchaseIntake: Sendable {
    let handler: LeadHandler

    /// The suite itself acting: sees every customer, owns nothing.
    static let systemCaller = Caller(userID: "system", role: .admin, team: "")

    func runPending() async {
        let wallNow = SystemClock().nowMs()
        let pending: [PendingNeed]
        do {
            pending = try await handler.store.read { db in
                try PendingNeed.fetchAll(db, sql: """
                    SELECT * FROM repurchase_intake WHERE done = 0 AND next_attempt_ms <= ? ORDER BY received_at_ms LIMIT 50
                    """, arguments: [wallNow])
            }
        } catch {
            handler.logger.error("repurchase intake read failed", metadata: ["error": "\(error)"])
            return
        }
        for row in pending {
            let eventID = row.eventId
            do {
                let leadID = try await intake(row)
                try await handler.store.write { db in
                    try db.execute(sql: "UPDATE repurchase_intake SET done = 1, lead_id = ?, last_error = '' WHERE event_id = ?",
                                   arguments: [leadID, eventID])
                }
                handler.relay.wake()
            } catch {
                let attempts = row.attempts
                let backoff = min(Int64(1000) << Int64(min(attempts, 8)), 5 * Millis.minute)
                let permanent = (error as? RPCError).map { [.invalidArgument, .notFound, .permissionDenied].contains($0.code) } ?? false
                handler.logger.notice("repurchase lead not created yet", metadata: ["event": "\(eventID)", "error": "\(error)"])
                try? await handler.store.write { db in
                    try db.execute(sql: """
                        UPDATE repurchase_intake SET attempts = attempts + 1, next_attempt_ms = ?, last_error = ?, done = ?
                        WHERE event_id = ?
                        """, arguments: [wallNow + backoff, "\(error)", permanent && attempts >= 5 ? 2 : 0, eventID])
                }
            }
        }
    }

    /// Creates the lead (or finds the open lead it duplicates); returns its id.
    private func intake(_ row: PendingNeed) async throws -> String {
        let customers = Crm_Customers_V1_CustomerServiceClient(channel: handler.peers.channel("customers"))
        let options = handler.peers.options(for: Self.systemCaller, timeout: .seconds(5))
        let customerID = row.customerId
        let contactID = row.contactId
        let customer = try await customers.getCustomer(Crm_Customers_V1_GetCustomerRequest(customerId: customerID),
                                                       options: options).customer ?? Crm_Customers_V1_Customer()
        var contact: Crm_Customers_V1_Contact?
        if !contactID.isEmpty {
            contact = try? await customers.getContact(Crm_Customers_V1_GetContactRequest(contactId: contactID),
                                                      options: options).contact
        }
        if contact == nil {
            var list = Crm_Customers_V1_ListContactsRequest()
            list.customerId = customerID
            list.pageSize = 10
            contact = try await customers.listContacts(list, options: options).contacts.first
        }
        let title = row.title, note = row.note, ticketID = row.ticketId
        let estimate = row.estimateCents, currency = row.currency
        var input = Crm_Leads_V1_LeadInput()
        input.source = .existingCustomerRepurchase
        input.sourceDetail = "ticket \(ticketID)"
        input.scenario = "Return visit (ticket \(ticketID)\(title.isEmpty ? "" : ": \(title)")) found a repurchase need"
        input.contactName = contact?.name ?? customer.name
        input.jobTitle = contact?.jobTitle ?? ""
        input.phone = contact.map { $0.phone.isEmpty ? customer.phone : $0.phone } ?? customer.phone
        input.email = contact.map { $0.email.isEmpty ? customer.email : $0.email } ?? customer.email
        input.company = customer.name
        input.region = customer.region
        input.industry = customer.industry
        input.background = "Existing customer \(customer.name) (\(customerID))."
        input.initialNeed = (note.isEmpty ? "Repurchase" : note)
            + (estimate > 0 ? " (estimated \(estimate) \(currency) cents)" : "")
        let owner = row.ownerId
        var request = Crm_Leads_V1_CreateLeadRequest(requestId: "repurchase:\(row.eventId)", lead: input)
        if !owner.isEmpty {
            request.routing = .owner
            request.ownerId = owner
        }
        let caller = Self.systemCaller
        let (settings, rules) = try handler.intakeConfiguration()
        var prepared = try LeadHandler.prepare(request, caller: caller, settings: settings)
        var inputs = try await handler.routingInputs(for: [prepared], rules: rules)
        if case .owner(let id) = prepared.route,
           (try? LeadHandler.availableUser(id, inputs: inputs, now: handler.clock.nowMs(), field: "owner_id")) == nil {
            // The ticket owner cannot take it now: let the rules decide.
            prepared.route = .rules
            prepared.request.routing = .rules
            prepared.request.ownerId = ""
            inputs = try await handler.routingInputs(for: [prepared], rules: rules)
        }
        let now = handler.clock.nowMs()
        let ready = prepared, routing = inputs
        do {
            let response = try await handler.store.write { db in
                try LeadHandler.insert(db, ready, caller: caller, inputs: routing, settings: settings, now: now)
            }
            return response.lead?.id ?? ""
        } catch let duplicate as DuplicateLead {
            return duplicate.leadID
        } catch let problems as FieldProblems {
            throw problems.rpcError
        }
    }
}

/// A repurchase need waiting to become a lead (a row of `repurchase_intake`).
struct PendingNeed: Codable, FetchableRecord, Sendable {
    static let databaseColumnDecodingStrategy = DatabaseColumnDecodingStrategy.convertFromSnakeCase
    var eventId: String
    var ticketId: String
    var customerId: String
    var contactId: String
    var ownerId: String
    var title: String
    var note: String
    var estimateCents: Int64
    var currency: String
    var attempts: Int
}
