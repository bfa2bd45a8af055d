import CRMProto
import InteropProto
import ProtoWire
import Testing

/// Property-style checks over every generated message type: what the reference implementation
/// says about the same bytes is checked separately (Tests/python/test_codec_reference.py).
@Suite("Generated messages")
struct GeneratedMessageTests {
    static var allTypes: [any ProtoMessage.Type] {
        Array(CRMProtoRegistry.messageTypes.values) + Array(InteropProtoRegistry.messageTypes.values)
    }

    /// Random bytes: either they decode, or decoding throws. Nothing traps, nothing hangs, and
    /// whatever decodes re-encodes to bytes that decode to the same message.
    @Test func randomBytesNeverCrashAndDecodedMessagesAreStable() throws {
        var generator = SeededGenerator(seed: 0x5EED)
        var decodedCount = 0
        for type in Self.allTypes {
            for _ in 0..<200 {
                let length = Int.random(in: 0...64, using: &generator)
                let input = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
                if try roundTripIsStable(type, input) { decodedCount += 1 }
            }
        }
        #expect(decodedCount > 0)
    }

    /// Encode → decode is the identity, and encoding is canonical (re-encoding gives equal bytes).
    @Test func reencodingIsCanonical() throws {
        var generator = SeededGenerator(seed: 42)
        for type in Self.allTypes {
            for _ in 0..<50 {
                // Build plausible field content by concatenating valid fields of random numbers.
                var writer = ProtoWriter()
                for _ in 0..<Int.random(in: 0...6, using: &generator) {
                    let field = Int.random(in: 1...40, using: &generator)
                    switch Int.random(in: 0...3, using: &generator) {
                    case 0: writer.writeInt64(field, Int64.random(in: -5...1_000_000, using: &generator))
                    case 1: writer.writeString(field, "x\(field)")
                    case 2: writer.writeFixed64(field, UInt64.random(in: 0...UInt64.max, using: &generator))
                    default: writer.writeFixed32(field, UInt32.random(in: 0...UInt32.max, using: &generator))
                    }
                }
                _ = try roundTripIsStable(type, writer.bytes)
            }
        }
    }

    private func roundTripIsStable<M: ProtoMessage>(_ type: M.Type, _ input: [UInt8]) throws -> Bool {
        guard let first = try? M(serializedBytes: input) else { return false }
        let encoded = first.serializedBytes()
        let second = try M(serializedBytes: encoded)
        // Bytes, not ==: random bits can decode to NaN, which is never equal to itself.
        #expect(second.serializedBytes() == encoded, "\(M.protoMessageName) encoding is not canonical")
        return true
    }
}

/// SplitMix64: reproducible randomness for tests.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
