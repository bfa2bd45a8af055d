import CRMProto
import Foundation
import ProtoJSON
import ProtoWire

/// The suite's contracts as compiled into crm-admin: the generated descriptors drive the proto3
/// JSON of export, import, import-csv and `my-day --json` (the same transcoder the gateway uses),
/// so the binary needs no proto/ files at run time and cannot disagree with the code it calls.
enum Contracts {
    static let transcoder = ProtoJSONTranscoder(CRMProtoDescriptors.descriptors)

    static var descriptors: ProtoDescriptorSet { transcoder.descriptors }

    /// A response decoded to proto3 JSON and parsed, for reading a few fields by JSON name.
    static func object(fromWire bytes: [UInt8], messageType: String) throws -> [String: Any] {
        let json = try transcoder.json(fromWire: bytes, messageType: messageType)
        return try JSONSerialization.jsonObject(with: Data(json)) as? [String: Any] ?? [:]
    }

    /// The text of the JSON document `transcoder` writes for a message: compact, one line.
    static func text(fromWire bytes: [UInt8], messageType: String) throws -> String {
        String(decoding: try transcoder.json(fromWire: bytes, messageType: messageType), as: UTF8.self)
    }
}
