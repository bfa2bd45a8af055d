import ArgumentParser
import Foundation
import ProtoWire
import RPCCore

/// `crm-admin export`: a service's records as JSON Lines of its export record in proto3 JSON.
struct Export: AdminCommand {
    static let configuration = CommandConfiguration(
        abstract: "Export a service's records as JSON Lines (one proto3 JSON export record per line).",
        discussion: """
            Records keep everything the service's export carries (history, timeline, tokens' hashes…), so \
            `import` into another store — another environment, a newer version — reproduces them. \
            \(AdminExit.helpText)
            """)

    @Option(help: "Which service: \(ServiceCatalog.names.joined(separator: ", ")).")
    var service: String

    @Option(help: "Write to this file (default: stdout).")
    var out: String?

    @Option(help: "Only records changed at or after this time (UTC ms), where the service supports it.")
    var since: Int64?

    @OptionGroup var access: ServiceAccess

    mutating func execute() async throws -> Int32 {
        let entry = try ServiceCatalog.entry(service)
        var request: [String: Any] = [:]
        for field in entry.fullExport { request[field] = true }
        if let since {
            guard let field = entry.sinceField else { throw AdminError("crm-\(entry.name) exports have no --since filter", code: AdminExit.usage) }
            request[field] = String(since)
        }
        let requestBytes = try Contracts.transcoder.wireBytes(fromJSONObject: request, messageType: entry.exportRequest)
        let endpoint = try access.endpoint(for: entry.name)
        defer { Task { [endpoint] in await endpoint.close() } }

        let sink = try LineSink(path: out)
        var count = 0
        try await rpc("exporting crm-\(entry.name)") {
            try await endpoint.serverStreaming(entry.exportPath, request: requestBytes) { bytes in
                guard let record = try Self.record(in: bytes) else { return }
                try sink.write(Contracts.text(fromWire: record, messageType: entry.recordMessage))
                count += 1
            }
        }
        try sink.finish()
        Output.error("exported \(count) record\(count == 1 ? "" : "s") of crm-\(entry.name)\(out.map { " to \($0)" } ?? "")")
        return AdminExit.ok
    }

    /// The record of one export response. Every service's export response is `{ <Record> record = 1; }`
    /// (the field import requests carry it in), so its bytes are taken as they are and transcoded
    /// once, as the record message. Nil when a response carries no record.
    static func record(in response: [UInt8]) throws -> [UInt8]? {
        var reader = ProtoReader(response)
        var record: [UInt8]?
        while let (number, wireType) = try reader.nextTag() {
            if number == 1, wireType == .lengthDelimited {
                // Repeated occurrences of a singular message merge, as protobuf parsing does.
                record = (record ?? []) + (try reader.readBytes())
            } else {
                try reader.skip(wireType, number: number)
            }
        }
        return record
    }
}

/// Writes lines to a file (via a temporary name, renamed when complete) or to stdout.
final class LineSink {
    private let path: String?
    private let handle: FileHandle
    private var buffer = Data()

    init(path: String?) throws {
        self.path = path
        if let path {
            let partial = path + ".partial"
            guard FileManager.default.createFile(atPath: partial, contents: nil) else {
                throw AdminError("cannot write \(path)")
            }
            handle = try FileHandle(forWritingTo: URL(fileURLWithPath: partial))
        } else {
            handle = FileHandle.standardOutput
        }
    }

    func write(_ line: String) throws {
        buffer.append(contentsOf: Array(line.utf8))
        buffer.append(0x0A)
        if buffer.count > 1 << 16 { try flush() }
    }

    private func flush() throws {
        try handle.write(contentsOf: buffer)
        buffer.removeAll(keepingCapacity: true)
    }

    func finish() throws {
        try flush()
        guard let path else { return }
        try handle.close()
        if FileManager.default.fileExists(atPath: path) { try FileManager.default.removeItem(atPath: path) }
        try FileManager.default.moveItem(atPath: path + ".partial", toPath: path)
    }
}
