import ArgumentParser
import Foundation

/// `crm-admin restore`: puts a verified backup in place of a store.
struct Restore: AdminCommand {
    static let configuration = CommandConfiguration(
        abstract: "Restore a store from a backup: checks the backup's integrity (and schema with --service), keeps the replaced store aside, verifies the result.",
        discussion: """
            Stop the service first: it must reopen the restored file. The store being replaced is kept beside \
            it as <name>.pre-restore-<time>.sqlite. \(AdminExit.helpText)
            """)

    @Option(help: "The backup file to restore from.")
    var from: String

    @Option(help: "The service's SQLite file to restore into.")
    var db: String

    @Option(help: "Refuse a backup whose schema is newer than this binary knows for that service.")
    var service: String?

    @Flag(help: "Replace an existing store (it is kept aside first).")
    var force = false

    mutating func execute() async throws -> Int32 {
        try StoreFiles.requireExisting(from)
        let backup = try StoreFiles.open(from)
        let problems = try StoreFiles.integrity(of: backup)
        guard problems == ["ok"] else {
            throw AdminError("\(from) fails its integrity check, not restoring: \(problems.prefix(5).joined(separator: "; "))")
        }
        let applied = try StoreFiles.appliedMigrations(backup)
        if let service {
            let known = try ServiceCatalog.entry(service).migrations
            let knownIDs = Set(known.map { String(format: "%04d-%@", $0.version, $0.name) })
            let unknown = applied.filter { !knownIDs.contains($0) }
            guard unknown.isEmpty else {
                throw AdminError("\(from) was written by a newer crm-\(service) (unknown migrations: \(unknown.joined(separator: ", "))); not restoring")
            }
        }
        if FileManager.default.fileExists(atPath: db) {
            guard force else { throw AdminError("\(db) exists; pass --force to replace it (it is kept aside first)") }
            let aside = StoreFiles.siblingPath(of: db, label: "pre-restore")
            try StoreFiles.copy(from: StoreFiles.open(db), to: aside)
            Output.line("kept the replaced store as \(aside)")
            // The old file's WAL must not be replayed over the restored content.
            for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: db + suffix) }
        }
        try StoreFiles.copy(from: backup, to: db)
        let counts = try StoreFiles.rowCounts(StoreFiles.open(db))
        Output.line("restored \(from) into \(db): integrity ok; schema \(applied.last ?? "none"); rows: \(StoreFiles.describe(counts))")
        return AdminExit.ok
    }
}
