import ArgumentParser
import Foundation

/// `crm-admin backup`: a consistent, verified copy of a (running) service's store.
struct Backup: AdminCommand {
    static let configuration = CommandConfiguration(
        abstract: "Copy a service's store with SQLite's online backup (safe while the service runs), verified by PRAGMA integrity_check.",
        discussion: """
            Run it where the store's file is (on the host, or `docker compose exec <service> crm-admin backup …`). \
            The copy is one self-contained SQLite file, renamed into place only after its integrity check passed. \
            \(AdminExit.helpText)
            """)

    @Option(help: "The service's SQLite file (e.g. data/tickets.sqlite).")
    var db: String

    @Option(help: "Where to write the copy (default: beside the store as <name>.backup-<time>.sqlite).")
    var out: String?

    @Flag(help: "Replace --out if it exists.")
    var force = false

    mutating func execute() async throws -> Int32 {
        try StoreFiles.requireExisting(db)
        let destination = out ?? StoreFiles.siblingPath(of: db, label: "backup")
        if FileManager.default.fileExists(atPath: destination), !force {
            throw AdminError("\(destination) exists; pass --force to replace it")
        }
        let started = ContinuousClock.now
        try StoreFiles.copy(from: StoreFiles.open(db), to: destination)
        let copy = try StoreFiles.open(destination)
        let applied = try StoreFiles.appliedMigrations(copy)
        let counts = try StoreFiles.rowCounts(copy)
        Output.line("backup of \(db) written to \(destination) in \(Milliseconds.text(ContinuousClock.now - started))")
        Output.line("integrity ok; schema \(applied.last ?? "none"); rows: \(StoreFiles.describe(counts))")
        return AdminExit.ok
    }
}
