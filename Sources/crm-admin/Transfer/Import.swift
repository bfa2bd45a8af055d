import ArgumentParser
import Foundation
import ProtoWire
import RPCCore

/// `crm-admin import`: JSON Lines from `export` back into a service, reporting each row's fate.
struct Import: AdminCommand {
    static let configuration = CommandConfiguration(
        abstract: "Import JSON Lines written by `export` into a service; idempotent (records already there unchanged are UNCHANGED), reports each row's fate.",
        discussion: "Lines that are not valid records are reported and not sent. Exits 1 if any row failed. \(AdminExit.helpText)")

    @Option(help: "Which service: \(ServiceCatalog.names.joined(separator: ", ")).")
    var service: String

    @Argument(help: "The JSON Lines file ('-' for stdin).")
    var file: String

    @Flag(name: .customLong("dry-run"), help: "Validate every row in the service without storing anything.")
    var dryRun = false

    @Flag(help: "Print only failed rows and the totals.")
    var quiet = false

    @OptionGroup var access: ServiceAccess

    mutating func execute() async throws -> Int32 {
        let entry = try ServiceCatalog.entry(service)
        let text = try Self.read(file)

        // Each non-blank line becomes one stream message; remember its line for the report.
        var requests: [[UInt8]] = []
        var lineOfRow: [Int] = []
        var report = RowReport(quiet: quiet)
        for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let trimmed = line.trimmingCharacters(in: .whitespacesAndNewlines)
            guard !trimmed.isEmpty else { continue }
            do {
                let record = try Contracts.transcoder.wireBytes(fromJSONObject: try Self.parse(trimmed), messageType: entry.recordMessage)
                var writer = ProtoWriter()
                writer.writeBytes(1, record)
                if requests.isEmpty, dryRun { writer.writeBool(2, true) }
                requests.append(writer.bytes)
                lineOfRow.append(index + 1)
            } catch {
                report.add(line: index + 1, id: "", status: "INVALID", message: "\(error)")
            }
        }
        guard !requests.isEmpty else {
            report.finish(label: "nothing sent")
            return report.failed > 0 ? AdminExit.problems : AdminExit.ok
        }

        let endpoint = try access.endpoint(for: entry.name)
        defer { Task { [endpoint] in await endpoint.close() } }
        let progress = ProgressBar(total: requests.count, label: "importing")
        let responseBytes = try await rpc("importing into crm-\(entry.name)") {
            try await endpoint.clientStreaming(entry.importPath, requests: requests, sent: progress.update)
        }
        let response = try Contracts.object(fromWire: responseBytes, messageType: entry.importResponse)
        for result in response["results"] as? [Any] ?? [] {
            guard let fate = RowFate(result) else { continue }
            let line = fate.row >= 1 && fate.row <= lineOfRow.count ? lineOfRow[fate.row - 1] : fate.row
            report.add(line: line, id: fate.id, status: fate.status, message: fate.message)
        }
        report.finish(label: dryRun ? "dry run, nothing stored" : nil)
        return report.failed > 0 ? AdminExit.problems : AdminExit.ok
    }

    /// One line's JSON object; a line that is not one is named with what is wrong with it.
    static func parse(_ line: String) throws -> [String: Any] {
        let value: Any
        do {
            value = try JSONSerialization.jsonObject(with: Data(line.utf8))
        } catch {
            let reason = (error as NSError).userInfo[NSDebugDescriptionErrorKey] as? String
            throw AdminError("invalid JSON" + (reason.map { ": \($0)" } ?? ""))
        }
        guard let object = value as? [String: Any] else { throw AdminError("expected a JSON object (one record per line)") }
        return object
    }

    static func read(_ file: String) throws -> String {
        let data: Data?
        if file == "-" {
            data = FileHandle.standardInput.readDataToEndOfFile()
        } else {
            data = FileManager.default.contents(atPath: file)
        }
        guard let data else { throw AdminError("cannot read \(file)") }
        guard let text = String(data: data, encoding: .utf8) else { throw AdminError("\(file) is not UTF-8 text") }
        return text
    }
}
