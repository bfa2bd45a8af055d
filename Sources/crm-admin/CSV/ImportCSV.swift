import ArgumentParser
import Foundation
import RPCCore

/// `crm-admin import-csv`: another CRM's CSV export brought in through the services' own
/// validation (R1 for leads, R3 for opportunities), row by row, with a per-row report.
struct ImportCSV: AdminCommand {
    static let configuration = CommandConfiguration(
        commandName: "import-csv",
        abstract: "Import leads, customers, contacts or opportunities from a CSV file through the services' own validation (R1, R3).",
        discussion: """
            Columns are mapped to fields with --map FIELD=COLUMN (FIELD as in the .proto, e.g. contact_name, \
            source, facts.quote_date, attributes.utm_source, contact.email for a customer's first contact); a \
            column whose header already names a field is mapped by itself. --set FIELD=VALUE gives every row \
            the same value. Enums take their short name in any case ("Trade show" for LEAD_SOURCE_TRADE_SHOW); \
            *_ms fields take dates (2026-03-31) or ISO times; amount=COLUMN fills amount_cents from currency \
            units; lists split on ';' or '|'. Each row gets a stable request id, so re-running a file creates \
            nothing twice. Bad rows are reported with their reason and do not stop the good ones; the exit \
            code is 1 if any row failed. --dry-run validates without storing (leads: the full R1 check in \
            crm-leads; other kinds: conversion only, the service's rules run on the real import). \
            \(AdminExit.helpText)
            """)

    @Argument(help: "What the rows are: leads, customers, contacts or opportunities.")
    var kind: String

    @Argument(help: "The CSV file (first line: column headers).")
    var file: String

    @Option(name: .customLong("map"), help: "FIELD=COLUMN: fill FIELD from the column with that header (repeatable).")
    var mappings: [String] = []

    @Option(name: .customLong("set"), help: "FIELD=VALUE: the same value for every row, e.g. routing=pool or owner_id=u-12 (repeatable).")
    var constants: [String] = []

    @Flag(name: .customLong("dry-run"), help: "Check every row without storing anything.")
    var dryRun = false

    @Option(help: "The column separator.")
    var delimiter: String = ","

    @Option(help: "Also write every row's fate to this CSV file (row, line, status, id, message).")
    var report: String?

    @Flag(help: "Print every row, not only the failed ones.")
    var verbose = false

    @Option(name: .customLong("batch-size"), help: "Leads rows per CreateLeads call.")
    var batchSize: Int = 100

    @OptionGroup var access: ServiceAccess

    mutating func execute() async throws -> Int32 {
        guard let kind = CSVKind.all.first(where: { $0.name == self.kind }) else {
            throw AdminError("unknown kind '\(self.kind)'; one of: \(CSVKind.all.map(\.name).joined(separator: ", "))", code: AdminExit.usage)
        }
        guard delimiter.count == 1, let separator = delimiter.first else {
            throw AdminError("--delimiter must be one character", code: AdminExit.usage)
        }
        let resolver = CSVFieldResolver(descriptors: Contracts.descriptors, kind: kind)
        let table: CSVTable
        do {
            table = try CSVTable.parse(try Import.read(file), delimiter: separator)
        } catch let error as CSVTable.SyntaxError {
            throw AdminError("\(file): \(error)")
        }
        let plan = try CSVPlan(table: table, mappings: mappings, constants: constants, resolver: resolver)
        Output.error("mapping: " + plan.columns.map { "\($0.target.display) ← \(table.header[$0.index])" }.joined(separator: ", "))
        if !plan.ignored.isEmpty { Output.error("ignored columns: \(plan.ignored.joined(separator: ", "))") }

        var fates = CSVReport(verbose: verbose, reportPath: report)
        var rows: [(record: CSVTable.Record, request: [String: Any])] = []
        for record in table.records {
            do {
                rows.append((record, try plan.request(for: record, kind: kind, fileKey: Self.fileKey(table))))
            } catch let error as CSVRowError {
                fates.add(record, status: "INVALID", id: "", message: error.description)
            }
        }

        let progress = ProgressBar(total: table.records.count, label: "importing \(kind.name)")
        progress.update(table.records.count - rows.count)
        if dryRun, kind.method != nil {
            // No validate-only call for these kinds: the dry run is the conversion itself.
            for (record, _) in rows {
                fates.add(record, status: "VALID", id: "", message: "converted; crm-\(kind.service)'s rules run on the real import")
            }
        } else if !rows.isEmpty {
            try await send(rows, kind: kind, fates: &fates, progress: progress, alreadyDone: table.records.count - rows.count)
        }
        progress.update(table.records.count)
        try fates.finish(dryRun: dryRun)
        return fates.failed > 0 ? AdminExit.problems : AdminExit.ok
    }

    /// Stores the converted rows: leads in CreateLeads batches, the other kinds one create call per row.
    private func send(_ rows: [(record: CSVTable.Record, request: [String: Any])], kind: CSVKind,
                      fates: inout CSVReport, progress: ProgressBar, alreadyDone: Int) async throws {
        let endpoint = try access.endpoint(for: kind.service)
        defer { Task { [endpoint] in await endpoint.close() } }
        let sender = CSVSender(endpoint: endpoint, kind: kind)
        var done = alreadyDone
        if kind.method == nil {
            let size = max(1, batchSize)
            for start in stride(from: 0, to: rows.count, by: size) {
                let batch = Array(rows[start..<min(start + size, rows.count)])
                for (record, fate) in try await sender.leads(batch, dryRun: dryRun) {
                    fates.add(record, status: fate.status, id: fate.id, message: fate.message)
                }
                done += batch.count
                progress.update(done)
            }
        } else {
            for (record, request) in rows {
                let fate = try await sender.create(request)
                fates.add(record, status: fate.status, id: fate.id, message: fate.message)
                done += 1
                progress.update(done)
            }
        }
    }

    /// A short fingerprint of the file's header, part of every row's request id.
    static func fileKey(_ table: CSVTable) -> String {
        Fingerprint.text(table.header.joined(separator: "\u{1F}"))
    }
}

/// FNV-1a, 64 bits, as hex: a stable short fingerprint for request ids (not a security hash).
enum Fingerprint {
    static func text(_ text: String) -> String {
        var hash: UInt64 = 0xcbf29ce484222325
        for byte in text.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x100000001b3
        }
        return String(hash, radix: 16)
    }
}
