import CRMProto
import GRDB
import RPCCore
import ServiceRuntime

extension CustomerHandler {
    /// GetCustomer: the customer with the next recommended action for its status (line 2).
    func getCustomer(_ request: Crm_Customers_V1_GetCustomerRequest, context: ServerContext) async throws
        -> Crm_Customers_V1_GetCustomerResponse {
        let caller = try Access.caller(context)
        let id = try requiredID("customer_id", request.customerId)
        let stored = try pointRead { db in try Access.visibleCustomer(db, id: id, caller: caller) }
        let customer = stored.customer
        return Crm_Customers_V1_GetCustomerResponse(
            customer: customer, nextAction: Lifecycle.nextAction(for: customer.lifecycleStatus),
            allowedTransitions: customer.archived ? [] : Lifecycle.allowedTransitions(from: customer.lifecycleStatus))
    }

    /// BatchGetCustomers: visible customers in request order; unknown or invisible ids are listed as missing.
    func batchGetCustomers(_ request: Crm_Customers_V1_BatchGetCustomersRequest, context: ServerContext) async throws
        -> Crm_Customers_V1_BatchGetCustomersResponse {
        let caller = try Access.caller(context)
        var errors = FieldErrors()
        if request.customerIds.count > Limits.batchGet {
            errors.add("customer_ids", "at most \(Limits.batchGet) ids, got \(request.customerIds.count)")
        }
        for (i, id) in request.customerIds.enumerated() { _ = errors.identifier("customer_ids[\(i)]", id) }
        try errors.throwIfAny()
        let ids = request.customerIds
        return try await read { db in
            var response = Crm_Customers_V1_BatchGetCustomersResponse()
            var seen = Set<String>()
            for id in ids where seen.insert(id).inserted {
                if let stored = try StoredCustomer.load(db, id: id), Access.canSee(caller, stored.customer) {
                    response.customers.append(stored.customer)
                } else {
                    response.missingIds.append(id)
                }
            }
            return response
        }
    }

    /// FindDuplicates: the duplicate guard as a query (forms, "link to existing" on conversion).
    func findDuplicates(_ request: Crm_Customers_V1_FindDuplicatesRequest, context: ServerContext) async throws
        -> Crm_Customers_V1_FindDuplicatesResponse {
        _ = try Access.caller(context)
        var errors = FieldErrors()
        let name = errors.text("name", request.name, max: Limits.name)
        let phone = errors.phone("phone", request.phone)
        let email = errors.email("email", request.email)
        if name.isEmpty, request.phone.isEmpty, request.email.isEmpty {
            errors.add("name", "give a name, phone or email to look for")
        }
        try errors.throwIfAny()
        return try await read { db in
            Crm_Customers_V1_FindDuplicatesResponse(
                matches: try DuplicateGuard.find(db, name: name, phones: [phone], emails: [email]))
        }
    }

    /// A required record id, or INVALID_ARGUMENT naming the field.
    func requiredID(_ field: String, _ value: String) throws -> String {
        var errors = FieldErrors()
        let id = errors.identifier(field, value)
        try errors.throwIfAny()
        return id
    }
}
