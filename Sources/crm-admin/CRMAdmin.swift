import ArgumentParser
import Foundation
import RPCCore

/// crm-admin: what platform teams use to run, check and migrate the suite.
@main
struct CRMAdmin: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "crm-admin",
        abstract: "Operate the CRM suite: health, store migrations, backup/restore, export/import, CSV intake, users and tokens, demo data.",
        discussion: """
            Services are reached directly with the suite's service token (--service-token / CRM_SERVICE_TOKEN) \
            or through the gateway with a bearer token (--gateway / CRM_GATEWAY_ADDR, --token / CRM_TOKEN or \
            CRM_ADMIN_TOKEN). Addresses default to CRM_<SERVICE>_ADDR, else the suite's default ports 7400-7405.

            \(AdminExit.helpText)
            """,
        subcommands: [Health.self, Migrate.self, Backup.self, Restore.self, Export.self, Import.self,
                      ImportCSV.self, Users.self, Tokens.self, Seed.self, MyDayCommand.self])
}

/// A subcommand whose failures become one stderr line and crm-admin's exit codes.
protocol AdminCommand: AsyncParsableCommand {
    /// The command's work; returns the exit code (0 ok, 1 problems found).
    mutating func execute() async throws -> Int32
}

extension AdminCommand {
    mutating func run() async throws {
        let code: Int32
        do {
            code = try await execute()
        } catch let error as AdminError {
            Output.error("crm-admin: \(error.description)")
            throw ExitCode(error.code)
        } catch let error as RPCError {
            Output.error("crm-admin: \(error.summary)")
            throw ExitCode(AdminExit.refused)
        } catch let error as ExitCode {
            throw error
        } catch is CancellationError {
            throw ExitCode(AdminExit.refused)
        } catch {
            Output.error("crm-admin: \(error)")
            throw ExitCode(AdminExit.refused)
        }
        Output.flush()
        if code != 0 { throw ExitCode(code) }
    }
}
