import Foundation
import RPCCore

/// The fate of one CSV row, in the vocabulary every import shares.
struct CSVFate {
    var status: String
    var id: String
    var message: String
}

/// Sends converted rows to the owning service: per row for customers, contacts and opportunities
/// (their create calls), in CreateLeads batches for leads (rows are independent there too).
struct CSVSender {
    let endpoint: Endpoint
    let kind: CSVKind

    /// Statuses that end the whole import: the service is not there or will not talk to us.
    static let fatal: Set<StatusCode> = [.unavailable, .unauthenticated, .unimplemented]

    func create(_ request: [String: Any]) async throws -> CSVFate {
        guard let method = kind.method, let responseName = kind.response else { preconditionFailure("per-row kinds only") }
        let bytes = try Contracts.transcoder.wireBytes(fromJSONObject: request, messageType: kind.envelope)
        do {
            let call = try await endpoint.channel.makeCall(path: method, options: endpoint.options())
            try await call.send(bytes)
            try await call.finishSending()
            guard let answer = try await call.receive() else { throw RPCError(.internal, "no response") }
            while try await call.receive() != nil {}
            let response = try Contracts.object(fromWire: answer, messageType: responseName)
            let id = kind.idKey.flatMap { (response[$0] as? [String: Any])?["id"] as? String } ?? ""
            let replayed = response["replayed"] as? Bool == true
            return CSVFate(status: replayed ? "UNCHANGED" : "IMPORTED", id: id, message: replayed ? "imported before (same row)" : "")
        } catch let error as RPCError {
            if Self.fatal.contains(error.code) { throw AdminError("crm-\(kind.service): \(error.summary)") }
            return CSVFate(status: Self.status(for: error.code), id: "", message: error.message)
        }
    }

    /// One CreateLeads call for a batch; results come back per row number.
    func leads(_ rows: [(record: CSVTable.Record, request: [String: Any])], dryRun: Bool) async throws -> [(CSVTable.Record, CSVFate)] {
        var request: [String: Any] = ["rows": rows.map(\.request)]
        if dryRun { request["dryRun"] = true }
        let bytes = try Contracts.transcoder.wireBytes(fromJSONObject: request, messageType: "crm.leads.v1.CreateLeadsRequest")
        let answer: [UInt8]
        do {
            let call = try await endpoint.channel.makeCall(path: "/crm.leads.v1.LeadService/CreateLeads", options: endpoint.options())
            try await call.send(bytes)
            try await call.finishSending()
            guard let first = try await call.receive() else { throw RPCError(.internal, "no response") }
            while try await call.receive() != nil {}
            answer = first
        } catch let error as RPCError {
            if Self.fatal.contains(error.code) { throw AdminError("crm-leads: \(error.summary)") }
            // The whole batch was refused (e.g. too large): every row of it shares the reason.
            return rows.map { ($0.record, CSVFate(status: Self.status(for: error.code), id: "", message: error.message)) }
        }
        let response = try Contracts.object(fromWire: answer, messageType: "crm.leads.v1.CreateLeadsResponse")
        var byRow: [Int: CSVFate] = [:]
        for case let result as [String: Any] in response["results"] as? [Any] ?? [] {
            guard let fate = RowFate(result) else { continue }
            var message = fate.message
            if let duplicate = result["duplicateOfLeadId"] as? String, !duplicate.isEmpty {
                message = message.isEmpty ? "duplicates open lead \(duplicate)" : "\(message) (open lead \(duplicate))"
            }
            byRow[fate.row] = CSVFate(status: fate.status, id: fate.id, message: message)
        }
        return rows.map { row in
            (row.record, byRow[row.record.row] ?? CSVFate(status: "FAILED", id: "", message: "crm-leads returned no result for this row"))
        }
    }

    static func status(for code: StatusCode) -> String {
        switch code {
        case .invalidArgument: "INVALID"
        case .failedPrecondition: "REJECTED"
        case .alreadyExists: "DUPLICATE"
        default: "FAILED"
        }
    }
}

/// The per-row report of import-csv: failed rows (every row with --verbose) on stdout, an
/// optional CSV file with every row, then the totals.
struct CSVReport {
    static let failures: Set<String> = ["INVALID", "REJECTED", "DUPLICATE", "FAILED"]
    var verbose: Bool
    var reportPath: String?
    var counts: [String: Int] = [:]
    var failed = 0
    var lines: [(row: Int, text: String, csv: String)] = []

    init(verbose: Bool, reportPath: String?) {
        self.verbose = verbose
        self.reportPath = reportPath
    }

    mutating func add(_ record: CSVTable.Record, status: String, id: String, message: String) {
        counts[status, default: 0] += 1
        let isFailure = Self.failures.contains(status)
        if isFailure { failed += 1 }
        var text = "row \(record.row) (line \(record.line)): \(status)"
        if !id.isEmpty { text += " \(id)" }
        if !message.isEmpty { text += " — \(message)" }
        let csv = [String(record.row), String(record.line), status, id, message].map(Self.quote).joined(separator: ",")
        lines.append((record.row, (isFailure || verbose) ? text : "", csv))
    }

    func finish(dryRun: Bool) throws {
        let ordered = lines.sorted { $0.row < $1.row }
        for line in ordered where !line.text.isEmpty { Output.line(line.text) }
        if let reportPath {
            let body = (["row,line,status,id,message"] + ordered.map(\.csv)).joined(separator: "\n") + "\n"
            guard FileManager.default.createFile(atPath: reportPath, contents: Data(body.utf8)) else {
                throw AdminError("cannot write \(reportPath)")
            }
        }
        let totals = counts.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key.lowercased())" }.joined(separator: ", ")
        Output.line("total: \(lines.count) rows: \(totals.isEmpty ? "none" : totals)\(dryRun ? " (dry run, nothing stored)" : "")")
    }

    static func quote(_ cell: String) -> String {
        cell.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" }) ? "\"" + cell.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : cell
    }
}
