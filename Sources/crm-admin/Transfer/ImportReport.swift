// Reading an import response and reporting it, shared by `import` and `import-csv`.

/// One row of an import response, whichever service answered: ImportRowResult (status enum),
/// LeadRowResult (RowStatus, field errors) or DirectoryImportResult (ok / unchanged).
struct RowFate {
    var row: Int
    var id: String
    var status: String
    var message: String

    init?(_ value: JSONValue) {
        guard let object = value.objectValue else { return nil }
        row = Int(object["rowNumber"]?.stringValue ?? "") ?? 0
        id = ["customerId", "ticketId", "opportunityId", "leadId", "recordKey", "recordId", "requestId"]
            .lazy.compactMap { object[$0]?.stringValue }.first { !$0.isEmpty } ?? ""
        if let status = object["status"]?.stringValue {
            // One vocabulary for every service: crm-leads' bulk-intake CREATED / REPLAYED are IMPORTED / UNCHANGED.
            let short = status.replacingOccurrences(of: "IMPORT_STATUS_", with: "").replacingOccurrences(of: "ROW_STATUS_", with: "")
            self.status = ["CREATED": "IMPORTED", "REPLAYED": "UNCHANGED"][short] ?? short
        } else if object["ok"] == .bool(true) {
            self.status = object["unchanged"] == .bool(true) ? "UNCHANGED" : "IMPORTED"
        } else {
            self.status = "FAILED"
        }
        var parts: [String] = []
        if let message = object["message"]?.stringValue, !message.isEmpty { parts.append(message) }
        for fieldError in object["fieldErrors"]?.arrayValue ?? [] {
            let field = fieldError.objectValue?["field"]?.stringValue ?? ""
            let text = fieldError.objectValue?["message"]?.stringValue ?? ""
            parts.append("\(field): \(text)")
        }
        message = parts.joined(separator: "; ")
    }
}

/// Per-row report of an import: one line per row (or per failed row with --quiet), then totals.
struct RowReport {
    static let failures: Set<String> = ["INVALID", "FAILED", "DUPLICATE"]
    var quiet: Bool
    var counts: [String: Int] = [:]
    var failed = 0

    mutating func add(line: Int, id: String, status: String, message: String) {
        counts[status, default: 0] += 1
        let isFailure = Self.failures.contains(status)
        if isFailure { failed += 1 }
        guard !quiet || isFailure else { return }
        var text = "line \(line): \(status)"
        if !id.isEmpty { text += " \(id)" }
        if !message.isEmpty { text += " — \(message)" }
        Output.line(text)
    }

    func finish(label: String?) {
        let totals = counts.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key.lowercased())" }.joined(separator: ", ")
        Output.line("total: \(totals.isEmpty ? "no rows" : totals)\(label.map { " (\($0))" } ?? "")")
    }
}
