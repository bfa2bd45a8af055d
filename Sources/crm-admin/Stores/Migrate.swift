import ArgumentParser
import CRMStore
import Foundation

/// `crm-admin migrate status|up`: a store's schema version, its pending migrations, and the upgrade.
struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show and apply a store's schema migrations (offline: stop the service first).",
        discussion: """
            Services also migrate their store on start and refuse a store written by a newer version; \
            this command does it ahead of a rollout, with a backup first. \(AdminExit.helpText)
            """,
        subcommands: [MigrateStatus.self, MigrateUp.self])
}

struct StoreSelection: ParsableArguments {
    @Option(help: "Which service's schema: \(ServiceCatalog.names.joined(separator: ", ")).")
    var service: String

    @Option(help: "The store's SQLite file.")
    var db: String

    /// The service's entry and the migrations this binary knows for it.
    func migrations() throws -> (ServiceEntry, [Migration]) {
        let entry = try ServiceCatalog.entry(service)
        return (entry, entry.migrations)
    }

    /// Opens the store without migrating it; refuses a missing file (unless `create`) and a store
    /// written by a newer version than this binary. The refusal is decided on a read-only
    /// connection first, so a store this binary must not touch is left exactly as it was.
    func open(_ migrations: [Migration], create: Bool = false) throws -> Store {
        if !create { try StoreFiles.requireExisting(db) }
        do {
            if FileManager.default.fileExists(atPath: db) {
                let known = Set(migrations.map { String(format: "%04d-%@", $0.version, $0.name) })
                let applied = try StoreFiles.appliedMigrations(StoreFiles.open(db, readOnly: true))
                let unknown = applied.filter { !known.contains($0) }
                if !unknown.isEmpty { throw StoreError.newerThanBinary(path: db, unknown: unknown) }
            }
            return try Store(path: db, migrations: migrations, migrate: false)
        } catch StoreError.newerThanBinary(_, let unknown) {
            throw AdminError("\(db) was written by a newer crm-\(try ServiceCatalog.entry(service).name) (unknown migrations: \(unknown.joined(separator: ", "))); refusing to touch it: use that release's crm-admin")
        } catch let error as AdminError {
            throw error
        } catch {
            throw AdminError("cannot open \(db): \(error)")
        }
    }
}

struct MigrateStatus: AdminCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Schema version of a store and the migrations this binary would apply.")

    @OptionGroup var store: StoreSelection

    @Flag(help: "Exit 1 when migrations are pending (for scripts and rollouts).")
    var check = false

    mutating func execute() async throws -> Int32 {
        let entry = try ServiceCatalog.entry(store.service)
        let migrations = entry.migrations
        let opened = try store.open(migrations)
        let (current, pending) = try opened.schemaStatus()
        Output.line("store     \(store.db)")
        Output.line("service   crm-\(entry.name) (this binary knows versions 1…\(migrations.last?.version ?? 0))")
        Output.line("version   \(current)")
        if pending.isEmpty {
            Output.line("pending   none: up to date")
        } else {
            Output.line("pending   \(pending.map { "\($0.version) \($0.name)" }.joined(separator: ", "))")
        }
        return check && !pending.isEmpty ? AdminExit.problems : AdminExit.ok
    }
}

struct MigrateUp: AdminCommand {
    static let configuration = CommandConfiguration(
        commandName: "up",
        abstract: "Back up the store, then apply pending migrations, each in its own transaction.",
        discussion: "Refuses a store written by a newer version. The backup goes beside the store as <name>.pre-migrate-<time>.sqlite unless --backup-to says where.")

    @OptionGroup var store: StoreSelection

    @Option(help: "Stop at this schema version (default: the newest this binary knows).")
    var to: Int?

    @Option(name: .customLong("backup-to"), help: "Where to write the backup taken before migrating.")
    var backupTo: String?

    @Flag(help: "Create the store if it does not exist (provisioning ahead of the first start).")
    var create = false

    mutating func execute() async throws -> Int32 {
        let (entry, migrations) = try store.migrations()
        let existed = FileManager.default.fileExists(atPath: store.db)
        let opened = try store.open(migrations, create: create)
        let (current, pending) = try opened.schemaStatus()
        let newest = migrations.last?.version ?? 0
        if let to {
            guard to >= current else {
                throw AdminError("\(store.db) is at version \(current); migrations only go forward (asked for --to \(to))", code: AdminExit.usage)
            }
            guard to <= newest else {
                throw AdminError("this binary knows crm-\(entry.name) versions up to \(newest), not \(to)", code: AdminExit.usage)
            }
        }
        let steps = pending.filter { $0.version <= (to ?? newest) }
        guard !steps.isEmpty else {
            Output.line("\(store.db) is at version \(current): nothing to apply")
            return AdminExit.ok
        }
        var backup = "none (new store)"
        if existed {
            backup = backupTo ?? StoreFiles.siblingPath(of: store.db, label: "pre-migrate-v\(current)")
            try StoreFiles.copy(from: StoreFiles.open(store.db), to: backup)
            Output.line("backup    \(backup) (version \(current), integrity ok)")
        }
        for step in steps {
            let started = ContinuousClock.now
            do {
                try opened.migrate(upTo: step.version)
            } catch {
                throw AdminError("migration \(step.version) \(step.name) failed and was rolled back: \(error); the store stays at the previous version, backup at \(backup)")
            }
            Output.line("applied   \(step.version) \(step.name) (\(Milliseconds.text(ContinuousClock.now - started)))")
        }
        let (after, _) = try opened.schemaStatus()
        Output.line("\(store.db) is at version \(after)")
        return AdminExit.ok
    }
}
