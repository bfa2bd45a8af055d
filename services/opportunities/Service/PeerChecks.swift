import RPCCore
import ServiceRuntime

/// Checks a write makes with other services before its transaction (see Directory for why an
/// unreachable peer does not block it).
extension OpportunityService {
    /// The team of a new owner: the caller's own for themselves; from the gateway's directory for others.
    /// A manager assigns only inside their team.
    func ownerTeam(_ owner: String, caller: Caller) async throws -> String {
        if owner == caller.userID { return caller.team }
        switch await directory.team(of: owner) {
        case .found(let team):
            if caller.role == .manager && team != caller.team {
                throw RPCError(.permissionDenied, "owner_id: \(owner) is in team \(team); a manager assigns within team \(caller.team)")
            }
            return team
        case .missing:
            throw RPCError(.invalidArgument, "owner_id: no user \(owner)")
        case .unknown:
            // The directory is unreachable: a manager's assignment stays in their team; an admin's
            // cannot be placed in a team without it.
            if caller.role == .manager { return caller.team }
            throw RPCError(.unavailable, "owner_id: the user directory (crm-gateway) is unreachable, so \(owner)'s team is unknown; retry")
        }
    }

    /// Checks with crm-customers (as the caller) that the customer exists and is visible and that the
    /// key person is one of its active contacts; returns their names. Unreachable: no names, no refusal.
    func checkCustomerAndKeyPerson(customerID: String, contactID: String, caller: Caller, checkCustomer: Bool = true)
        async throws -> (customer: String, keyPerson: String) {
        var errors = FieldErrors()
        var names = (customer: "", keyPerson: "")
        if checkCustomer {
            switch await directory.customer(customerID, as: caller) {
            case .found(let customer):
                if customer.archived { errors.add("customer_id", "customer \(customerID) is archived") }
                names.customer = customer.name
            case .missing: errors.add("customer_id", "no customer \(customerID)")
            case .unknown: break
            }
        }
        switch await directory.contact(contactID, as: caller) {
        case .found(let contact):
            if contact.customerId != customerID {
                errors.add("key_person_contact_id", "contact \(contactID) is not a contact of customer \(customerID)")
            } else if contact.archived {
                errors.add("key_person_contact_id", "contact \(contactID) is archived")
            }
            names.keyPerson = contact.name
        case .missing: errors.add("key_person_contact_id", "no contact \(contactID)")
        case .unknown: break
        }
        try errors.throwIfAny()
        return names
    }
}
