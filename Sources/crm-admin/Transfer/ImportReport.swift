// Reading an import response and reporting it, shared by `import` and `import-csv`.

/// One row of an import response, whichever service answered: ImportRowResult (status enum),
/// LeadRowResult (RowStatus, field errors) or DirectoryImportResult (ok / unchanged).
struct RowFate {
    var row: Int
    var id: String
    var status: String
    var message: String

    /// `value` is one result as JSONSerialization parses the response's proto3 JSON.
    init?(_ value: Any) {
        guard let object = value as? [String: Any] else { return nil }
        // int64 row numbers are JSON strings in the proto3 mapping.
        row = Int(object["rowNumber"] as? String ?? "") ?? 0
        id = ["customerId", "ticketId", "opportunityId", "leadId", "recordKey", "recordId", "requestId"]
            .lazy.compactMap { object[$0] as? String }.first { !$0.isEmpty } ?? ""
        if let status = object["status"] as? String {
            // One vocabulary for every service: crm-leads' bulk-intake CREATED / REPLAYED are IMPORTED / UNCHANGED.
            let short = status.replacingOccurrences(of: "IMPORT_STATUS_", with: "").replacingOccurrences(of: "ROW_STATUS_", with: "")
            self.status = ["CREATED": "IMPORTED", "REPLAYED": "UNCHANGED"][short] ?? short
        } else if object["ok"] as? Bool == true {
            self.status = object["unchanged"] as? Bool == true ? "UNCHANGED" : "IMPORTED"
        } else {
            self.status = "FAILED"
        }
        var parts: [String] = []
        if let message = object["message"] as? String, !message.isEmpty { parts.append(message) }
        for case let fieldError as [String: Any] in object["fieldErrors"] as? [Any] ?? [] {
            parts.append("\(fieldError["field"] as? String ?? ""): \(fieldError["message"] as? String ?? "")")
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
