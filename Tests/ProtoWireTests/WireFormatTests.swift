import InteropProto
import ProtoWire
import Testing

@Suite("Wire format primitives")
struct WireFormatTests {
    func bytes(_ body: (inout ProtoWriter) -> Void) -> [UInt8] {
        var writer = ProtoWriter()
        body(&writer)
        return writer.bytes
    }

    @Test(arguments: [UInt64(0), 1, 127, 128, 300, 16_383, 16_384, UInt64(UInt32.max), UInt64.max])
    func varintsRoundTrip(_ value: UInt64) throws {
        let encoded = bytes { $0.putVarint(value) }
        var reader = ProtoReader(encoded)
        #expect(try reader.readVarint() == value)
        #expect(reader.isAtEnd)
    }

    @Test func knownEncodingsFromTheSpec() {
        #expect(bytes { $0.writeInt32(1, 150) } == [0x08, 0x96, 0x01])
        #expect(bytes { $0.writeString(2, "testing") } == [0x12, 0x07] + Array("testing".utf8))
        // Negative int32 is sign-extended: ten bytes.
        #expect(bytes { $0.putInt32(-1) } == [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01])
        // ZigZag: -1 → 1, 1 → 2, Int32.min → UInt32.max.
        #expect(bytes { $0.putSInt32(-1) } == [0x01])
        #expect(bytes { $0.putSInt32(1) } == [0x02])
        #expect(bytes { $0.putSInt32(.min) } == [0xFF, 0xFF, 0xFF, 0xFF, 0x0F])
        #expect(bytes { $0.putFixed32(1) } == [1, 0, 0, 0])
        #expect(bytes { $0.writePacked(4, [Int32(3), 270, 86942]) { $0.putInt32($1) } }
                == [0x22, 0x06, 0x03, 0x8E, 0x02, 0x9E, 0xA7, 0x05])
    }

    @Test(arguments: [Int32.min, -1, 0, 1, Int32.max])
    func zigzagRoundTrips(_ value: Int32) throws {
        var reader = ProtoReader(bytes { $0.putSInt32(value) })
        #expect(try reader.readSInt32() == value)
        var reader64 = ProtoReader(bytes { $0.putSInt64(Int64(value) * 4_000_000_000) })
        #expect(try reader64.readSInt64() == Int64(value) * 4_000_000_000)
    }

    @Test func lengthPrefixesLongerThanOneByteAreBackpatched() throws {
        let body = [UInt8](repeating: 0xAB, count: 70_000)
        let message = Grpc_Testing_SimpleRequest(payload: Grpc_Testing_Payload(body: body))
        let decoded = try Grpc_Testing_SimpleRequest(serializedBytes: message.serializedBytes())
        #expect(decoded == message)
    }

    @Test func defaultsAreOmittedButExplicitOptionalsAreWritten() {
        #expect(Grpc_Testing_SimpleRequest().serializedBytes().isEmpty)
        #expect(Grpc_Testing_SimpleRequest(responseSize: 0, payload: Grpc_Testing_Payload()).serializedBytes() == [0x1A, 0x00])
    }

    @Test func unpackedRepeatedScalarsAreAccepted() throws {
        // backoff_ms = 2 (repeated int32), sent once packed and twice unpacked.
        let input: [UInt8] = [0x12, 0x02, 0x01, 0x02, 0x10, 0x03, 0x10, 0x04]
        let decoded = try Grpc_Testing_ReconnectInfo(serializedBytes: input)
        #expect(decoded.backoffMs == [1, 2, 3, 4])
    }

    @Test func unknownFieldsOfEveryWireTypeAreSkipped() throws {
        var writer = ProtoWriter()
        writer.writeInt64(900, -5)
        writer.writeFixed64(901, 7)
        writer.writeString(902, "ignored")
        writer.writeFixed32(903, 9)
        writer.putTag(904, .startGroup); writer.writeInt32(1, 1); writer.putTag(904, .endGroup)
        writer.writeInt32(2, 42)  // response_size
        let decoded = try Grpc_Testing_SimpleRequest(serializedBytes: writer.bytes)
        #expect(decoded == Grpc_Testing_SimpleRequest(responseSize: 42))
    }

    @Test func lastScalarWinsAndMessagesMerge() throws {
        var writer = ProtoWriter()
        writer.writeInt32(2, 1)
        writer.writeMessage(3, Grpc_Testing_Payload(type: .compressable, body: [1]))
        writer.writeInt32(2, 2)
        writer.writeMessage(3, Grpc_Testing_Payload(body: [2]))
        let decoded = try Grpc_Testing_SimpleRequest(serializedBytes: writer.bytes)
        #expect(decoded.responseSize == 2)
        #expect(decoded.payload?.body == [2])
    }

    @Test(arguments: [
        ([0x08] as [UInt8], "truncated varint"),
        ([0x08, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01], "varint"),
        ([0x1A, 0x05, 0x00], "runs past the end"),
        ([0x0E, 0x00], "invalid wire type"),
        ([0x00, 0x00], "field number 0"),
        ([0x0D, 0x01, 0x02], "truncated fixed32"),
        ([0x0C], "end-group"),
        ([0x0B, 0x08, 0x01], "unterminated group"),
        ([0x12, 0x02, 0xC3, 0x28], "UTF-8"),
    ])
    func malformedInputThrowsAndNamesTheProblem(_ input: [UInt8], _ expected: String) {
        let error = #expect(throws: ProtoDecodingError.self) {
            _ = try Grpc_Testing_SimpleResponse(serializedBytes: input)
        }
        #expect(error?.description.contains(expected) == true, "\(String(describing: error)) should mention \(expected)")
    }

    @Test func unknownEnumValuesSurviveARoundTrip() throws {
        var writer = ProtoWriter()
        writer.writeInt32(1, 77)  // response_type = 77, not a known PayloadType
        let decoded = try Grpc_Testing_SimpleRequest(serializedBytes: writer.bytes)
        #expect(decoded.responseType == .unrecognized(77))
        #expect(decoded.serializedBytes() == writer.bytes)
    }
}
