import Foundation
import ProtoWire

/// The free-form intake attributes, stored as a JSON object.
enum Attributes {
    static func encode(_ attributes: [String: String]) -> String {
        guard !attributes.isEmpty,
              let data = try? JSONSerialization.data(withJSONObject: attributes, options: [.sortedKeys]),
              let text = String(data: data, encoding: .utf8) else { return "{}" }
        return text
    }

    static func decode(_ text: String) -> [String: String] {
        guard text != "{}", let data = text.data(using: .utf8),
              let object = try? JSONSerialization.jsonObject(with: data) as? [String: String] else { return [:] }
        return object
    }
}

/// The one place that knows how generated code represents `map<string, string>` fields, so a change
/// of that representation touches only this file.
enum ProtoMaps {
    static func toProto(_ map: [String: String]) -> [MapKeyString: String] {
        var out: [MapKeyString: String] = [:]
        for (key, value) in map { out[MapKeyString(key)] = value }
        return out
    }

    static func fromProto(_ map: [MapKeyString: String]) -> [String: String] {
        var out: [String: String] = [:]
        for (key, value) in map { out[key.string] = value }
        return out
    }
}

extension Int32 {
    /// `self + other` pinned to the Int32 range (counters of restored records may start anywhere).
    func addingSaturated(_ other: Int32) -> Int32 {
        let (sum, overflow) = addingReportingOverflow(other)
        return overflow ? (other > 0 ? .max : .min) : sum
    }
}

extension Int64 {
    /// `self + other`, pinned to the Int64 range instead of trapping (client-supplied times).
    func addingClamped(_ other: Int64) -> Int64 {
        let (sum, overflow) = addingReportingOverflow(other)
        return overflow ? (other > 0 ? .max : .min) : sum
    }

    func subtractingClamped(_ other: Int64) -> Int64 {
        let (difference, overflow) = subtractingReportingOverflow(other)
        return overflow ? (other > 0 ? .min : .max) : difference
    }
}
