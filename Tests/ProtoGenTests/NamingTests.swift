@testable import ProtoGen
import Testing

@Suite struct NamingTests {
    @Test(arguments: [
        ("LEAD_SOURCE_TRADE_SHOW", "LeadSource", "tradeShow"),
        ("LEAD_SOURCE_UNSPECIFIED", "LeadSource", "unspecified"),
        ("SERVING", "ServingStatus", "serving"),
        ("SERVICE_UNKNOWN", "ServingStatus", "serviceUnknown"),
        ("NOT_SERVING", "ServingStatus", "notServing"),
        ("COMPRESSABLE", "PayloadType", "compressable"),
        ("GRPCLB_ROUTE_TYPE_FALLBACK", "GrpclbRouteType", "fallback"),
        ("COLOR_2D", "Color", "color2d"),
        ("COLOR_DEFAULT", "Color", "`default`"),
        ("COLOR_UNRECOGNIZED", "Color", "unrecognized_"),
        ("COLORFUL", "Color", "colorful"),
        ("HTTP_METHOD_GET", "HTTPMethod", "get"),
        ("STATUS_NEW", "Status", "new"),
    ])
    func enumCaseNames(value: String, enumName: String, expected: String) {
        #expect(Naming.enumCaseName(value: value, enumName: enumName) == expected)
    }

    @Test func typeNames() {
        #expect(Naming.topLevelTypeName(package: "crm.leads.v1", name: "Lead") == "Crm_Leads_V1_Lead")
        #expect(Naming.topLevelTypeName(package: "grpc.health.v1", name: "HealthCheckRequest") == "Grpc_Health_V1_HealthCheckRequest")
        #expect(Naming.topLevelTypeName(package: "my_pkg.v1", name: "X") == "MyPkg_V1_X")
        #expect(Naming.topLevelTypeName(package: "", name: "Lead") == "Lead")
        #expect(Naming.swiftTypeName("Inner", parent: "Crm_Leads_V1_Outer", package: "crm.leads.v1") == "Crm_Leads_V1_Outer.Inner")
    }

    @Test func memberNames() {
        #expect(Naming.fieldName("fill_oauth_scope") == "fillOauthScope")
        #expect(Naming.fieldName("backoff_ms") == "backoffMs")
        #expect(Naming.fieldName("field2_name") == "field2Name")
        #expect(Naming.fieldName("class") == "`class`")
        #expect(Naming.fieldName("self") == "self_")
        #expect(Naming.fieldName("init") == "init_")
        #expect(Naming.methodName("CreateLead") == "createLead")
        #expect(Naming.methodName("GetURL") == "getURL")
        #expect(Naming.methodName("HTTPGet") == "httpGet")
        #expect(Naming.methodName("Import") == "`import`")
    }
}
