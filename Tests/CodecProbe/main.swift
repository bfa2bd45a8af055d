// crm-codec-probe: decodes and re-encodes messages so the Python suite can compare our codec
// with the reference protobuf implementation.
//
// Input, one JSON object per line: {"type":"grpc.testing.SimpleRequest","hex":"0a0b..."}
// Output, one JSON line per input line: {"hex":"..."} (the canonical re-encoding) or
// {"error":"..."}. Blank lines are ignored. Exits 0 at end of input; bad input never crashes it.
import CRMProto
import Foundation
import InteropProto
import ProtoWire

let messageTypes = CRMProtoRegistry.messageTypes.merging(InteropProtoRegistry.messageTypes) { first, _ in first }

struct ProbeError: Error {
    let message: String
}

func hexDecode(_ text: String) throws(ProbeError) -> [UInt8] {
    let digits = Array(text.utf8)
    guard digits.count % 2 == 0 else { throw ProbeError(message: "hex has an odd number of digits") }
    var bytes: [UInt8] = []
    bytes.reserveCapacity(digits.count / 2)
    var i = 0
    while i < digits.count {
        guard let high = hexValue(digits[i]), let low = hexValue(digits[i + 1]) else {
            throw ProbeError(message: "hex contains a non-hex character")
        }
        bytes.append(high << 4 | low)
        i += 2
    }
    return bytes
}

func hexValue(_ c: UInt8) -> UInt8? {
    switch c {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
    default: nil
    }
}

func hexEncode(_ bytes: [UInt8]) -> String {
    let digits = Array("0123456789abcdef".utf8)
    var out: [UInt8] = []
    out.reserveCapacity(bytes.count * 2)
    for byte in bytes {
        out.append(digits[Int(byte >> 4)])
        out.append(digits[Int(byte & 0x0F)])
    }
    return String(decoding: out, as: UTF8.self)
}

/// The re-encoded bytes of one request line.
func roundTrip(_ line: String) throws -> [UInt8] {
    guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)),
          let request = object as? [String: Any] else {
        throw ProbeError(message: "input line is not a JSON object")
    }
    guard let typeName = request["type"] as? String else { throw ProbeError(message: "missing string field \"type\"") }
    guard let hex = request["hex"] as? String else { throw ProbeError(message: "missing string field \"hex\"") }
    guard let type = messageTypes[typeName] else { throw ProbeError(message: "unknown message type \(typeName)") }
    let message = try type.init(serializedBytes: try hexDecode(hex))
    return message.serializedBytes()
}

func reply(_ object: [String: String]) {
    // JSONSerialization escapes any text; a dictionary of strings always serializes.
    var data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("{\"error\":\"internal\"}".utf8)
    data.append(UInt8(ascii: "\n"))
    FileHandle.standardOutput.write(data)  // unbuffered, so each reply is visible at once
}

while let line = readLine(strippingNewline: true) {
    if line.allSatisfy(\.isWhitespace) { continue }
    do {
        reply(["hex": hexEncode(try roundTrip(line))])
    } catch let error as ProbeError {
        reply(["error": error.message])
    } catch {
        reply(["error": "\(error)"])
    }
}
