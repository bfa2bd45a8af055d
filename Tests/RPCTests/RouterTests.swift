import RPCHTTP2
import Testing

/// How a request path splits into service and method: every call's routing, and the gateway's
/// choice of backend, start here.
@Suite struct RouterTests {
    @Test func wellFormedPathsSplitIntoServiceAndMethod() throws {
        let parts = try #require(Router.split("/crm.leads.v1.LeadService/CreateLead"))
        #expect(parts.service == "crm.leads.v1.LeadService")
        #expect(parts.method == "CreateLead")
    }

    @Test(arguments: ["", "/", "//", "/svc", "/svc/", "//Method", "svc/Method", "/svc/a/b", "/svc/Method/"])
    func otherShapesAreRefused(_ path: String) {
        #expect(Router.split(path) == nil)
    }
}
