import ArgumentParser

/// crm-admin's exit codes, so scripts can tell "ran and found problems" from "could not run".
enum AdminExit {
    /// Everything asked for was done and is healthy.
    static let ok: Int32 = 0
    /// The command ran, but found problems: a process not SERVING, rows that failed, a failed
    /// integrity check, pending migrations under `--check`.
    static let problems: Int32 = 1
    /// The command was refused or could not run: unreachable process, RPC error, store newer than
    /// this binary, missing file.
    static let refused: Int32 = 2
    /// Bad command line (swift-argument-parser's usage exit code).
    static let usage: Int32 = 64

    static let helpText = "Exit codes: 0 ok; 1 ran but found problems (not SERVING, failed rows, failed check); 2 refused or could not run (unreachable, RPC error, newer store); 64 bad usage."
}

/// A failure crm-admin reports in one line to stderr, exiting with `code`.
struct AdminError: Error, CustomStringConvertible {
    var description: String
    var code: Int32

    init(_ description: String, code: Int32 = AdminExit.refused) {
        self.description = description
        self.code = code
    }
}
