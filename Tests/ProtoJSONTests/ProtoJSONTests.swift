import CRMProto
import Foundation
import ProtoJSON
import ProtoWire
import Testing

@Suite struct ProtoJSONTests {
    let transcoder = ProtoJSONTranscoder(CRMProtoDescriptors.descriptors.merging(testDescriptors))

    func json(_ text: String, _ type: String) throws -> [UInt8] {
        try transcoder.wireBytes(fromJSON: Array(text.utf8), messageType: type)
    }

    func text(_ bytes: [UInt8], _ type: String) throws -> String {
        String(decoding: try transcoder.json(fromWire: bytes, messageType: type), as: UTF8.self)
    }

    func failure(_ text: String, _ type: String) -> String {
        do {
            _ = try json(text, type)
            return "no error"
        } catch {
            return String(describing: error)
        }
    }

    @Test func createLeadRoundTrip() throws {
        let input = """
            {"requestId": "r-1", "lead": {"source": "LEAD_SOURCE_TRADE_SHOW", "contact_name": "Ada",
             "phone": "+1 555", "attributes": {"utm": "x", "b": "2"}}}
            """
        let wire = try json(input, "crm.leads.v1.CreateLeadRequest")
        let message = try Crm_Leads_V1_CreateLeadRequest(serializedBytes: wire)
        #expect(message.requestId == "r-1")
        #expect(message.lead?.source == .tradeShow)
        #expect(message.lead?.contactName == "Ada")
        #expect(message.lead?.attributes == ["utm": "x", "b": "2"])
        // Wire → JSON: json names, declaration order, map keys sorted, defaults omitted.
        let output = try text(message.serializedBytes(), "crm.leads.v1.CreateLeadRequest")
        #expect(output == #"{"requestId":"r-1","lead":{"source":"LEAD_SOURCE_TRADE_SHOW","contactName":"Ada","phone":"+1 555","attributes":{"b":"2","utm":"x"}}}"#)
        // And back again to the same bytes.
        #expect(try json(output, "crm.leads.v1.CreateLeadRequest") == message.serializedBytes())
    }

    @Test func int64AsStringsAndPresence() throws {
        var message = Crm_Gateway_V1_UpdateUserRequest()
        message.userId = "u1"
        message.version = 9_007_199_254_740_993
        message.outOfOffice = false
        message.role = .manager
        message.leadCapacity = 0
        let output = try text(message.serializedBytes(), "crm.gateway.v1.UpdateUserRequest")
        #expect(output == #"{"userId":"u1","version":"9007199254740993","role":"ROLE_MANAGER","outOfOffice":false,"leadCapacity":0}"#)
        let back = try Crm_Gateway_V1_UpdateUserRequest(serializedBytes: try json(output, "crm.gateway.v1.UpdateUserRequest"))
        #expect(back == message)
        // Numbers and strings both accepted; enums by number too.
        let viaNumbers = try Crm_Gateway_V1_UpdateUserRequest(serializedBytes: try json(
            #"{"version": 12, "role": 3, "out_of_office_until_ms": "-5"}"#, "crm.gateway.v1.UpdateUserRequest"))
        #expect(viaNumbers.version == 12)
        #expect(viaNumbers.role == .admin)
        #expect(viaNumbers.outOfOfficeUntilMs == -5)
    }

    @Test func bytesFloatsAndMapsWithIntegerKeys() throws {
        let input = #"{"data": "AAEC/w==", "ratio": "NaN", "big": "Infinity", "counts": {"7": "8", "-1": 2}, "flags": [true, false]}"#
        let wire = try json(input, "test.Sample")
        let output = try text(wire, "test.Sample")
        #expect(output == #"{"data":"AAEC/w==","ratio":"NaN","big":"Infinity","counts":{"-1":"2","7":"8"},"flags":[true,false]}"#)
        #expect(try text(try json(#"{"ratio": 1.5, "data": "AAEC_w"}"#, "test.Sample"), "test.Sample") == #"{"data":"AAEC/w==","ratio":1.5}"#)
    }

    @Test func errorsNameThePath() {
        #expect(failure(#"{"lead": {"phone": 5}}"#, "crm.leads.v1.CreateLeadRequest") == "lead.phone: expected a string")
        #expect(failure(#"{"lead": {"nope": 1}}"#, "crm.leads.v1.CreateLeadRequest").hasPrefix("lead.nope: unknown field"))
        #expect(failure(#"{"lead": {"source": "LEAD_SOURCE_NOPE"}}"#, "crm.leads.v1.CreateLeadRequest").hasPrefix("lead.source: unknown value"))
        #expect(failure(#"{"lead": {"attributes": {"a": 1}}}"#, "crm.leads.v1.CreateLeadRequest") == #"lead.attributes["a"]: expected a string"#)
        #expect(failure(#"{"version": "12x"}"#, "crm.gateway.v1.UpdateUserRequest").hasPrefix("version: expected an integer"))
        #expect(failure(#"{"leadCapacity": 3000000000}"#, "crm.gateway.v1.UpdateUserRequest") == "leadCapacity: out of range for int32")
        #expect(failure(#"{"flags": [true, 1]}"#, "test.Sample") == "flags[1]: expected true or false")
        #expect(failure("[1]", "test.Sample").hasPrefix("expected an object"))
        #expect(failure("{", "test.Sample") == "the body is not valid JSON")
    }

    @Test func emptyBodyIsTheEmptyMessage() throws {
        #expect(try json("", "crm.leads.v1.CreateLeadRequest") == [])
        #expect(try json("{}", "crm.leads.v1.CreateLeadRequest") == [])
        #expect(try text([], "crm.leads.v1.CreateLeadRequest") == "{}")
    }

    @Test func treesBuiltInMemoryEncodeLikeDocuments() throws {
        // Native Swift values, as a caller assembling a request builds them.
        let tree: [String: Any] = [
            "requestId": "r-2", "routing": "INTAKE_ROUTING_POOL",
            "lead": ["contact_name": "Ada", "attributes": ["utm": "x"], "source": 5] as [String: Any],
        ]
        let wire = try transcoder.wireBytes(fromJSONObject: tree, messageType: "crm.leads.v1.CreateLeadRequest")
        let document = #"{"requestId": "r-2", "routing": "INTAKE_ROUTING_POOL", "lead": {"contactName": "Ada", "attributes": {"utm": "x"}, "source": 5}}"#
        #expect(wire == (try json(document, "crm.leads.v1.CreateLeadRequest")))
        let sample: [String: Any] = ["ratio": 1.5, "counts": ["7": Int64(8)], "flags": [true, false]]
        #expect(try text(try transcoder.wireBytes(fromJSONObject: sample, messageType: "test.Sample"), "test.Sample")
                == #"{"ratio":1.5,"counts":{"7":"8"},"flags":[true,false]}"#)
        // The same errors, naming the path.
        do {
            _ = try transcoder.wireBytes(fromJSONObject: ["lead": ["phone": 5]], messageType: "crm.leads.v1.CreateLeadRequest")
            Issue.record("no error")
        } catch {
            #expect(error.description == "lead.phone: expected a string")
        }
        #expect(throws: ProtoJSONError.self) {
            try transcoder.wireBytes(fromJSONObject: ["flags": [true, 1]], messageType: "test.Sample")
        }
    }

    @Test func descriptorsDescribeMethods() throws {
        let method = try #require(CRMProtoDescriptors.descriptors.methods["/crm.leads.v1.LeadService/CreateLead"])
        #expect(method.inputType == "crm.leads.v1.CreateLeadRequest")
        #expect(method.outputType == "crm.leads.v1.CreateLeadResponse")
        #expect(method.isUnary)
        let field = try #require(CRMProtoDescriptors.descriptors.messages["crm.gateway.v1.UpdateUserRequest"]?.field(number: 9))
        #expect(field.jsonName == "outOfOfficeUntilMs")
        #expect(field.hasPresence)
    }
}

let testDescriptors = ProtoDescriptorSet(messages: [
    ProtoMessageDescriptor("test.Sample", [
        ProtoFieldDescriptor(1, "data", json: "data", .scalar(.bytes)),
        ProtoFieldDescriptor(2, "ratio", json: "ratio", .scalar(.double)),
        ProtoFieldDescriptor(3, "big", json: "big", .scalar(.float)),
        ProtoFieldDescriptor(4, "counts", json: "counts", .scalar(.sint64), mapKey: .int32),
        ProtoFieldDescriptor(5, "flags", json: "flags", .scalar(.bool), repeated: true),
    ]),
])
