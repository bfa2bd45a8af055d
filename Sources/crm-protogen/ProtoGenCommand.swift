import ArgumentParser
import Foundation
import ProtoGen

/// Regenerates Sources/<Module>/Generated/ from proto/, or checks that it is up to date.
@main
struct ProtoGenCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "crm-protogen",
        abstract: "Generate Swift messages, clients and handlers from the .proto files.",
        discussion: """
            Run from the repository root. Reads every .proto under --proto-root and rewrites \
            Sources/CRMProto/Generated and Sources/InteropProto/Generated, deleting generated \
            files whose .proto is gone.
            """)

    @Option(name: .long, help: "Directory holding the .proto files (imports are relative to it).")
    var protoRoot = "proto"

    @Option(name: .long, help: "Repository root that the Sources/ output paths are relative to.")
    var outputRoot = "."

    @Flag(name: .long, help: "Write nothing; exit 1 listing generated files that differ, are missing or are stale.")
    var check = false

    func run() throws {
        let generated: [String: String]
        do {
            generated = try generateAll(protoRoot: protoRoot)
        } catch let error as ProtoGenError {
            printError(error.description)
            throw ExitCode.failure
        }
        let root = URL(fileURLWithPath: outputRoot, isDirectory: true)
        let stale = try staleFiles(root: root, generated: generated)
        var changed: [String] = []
        for (path, content) in generated.sorted(by: { $0.key < $1.key }) {
            let existing = try? String(contentsOf: root.appendingPathComponent(path), encoding: .utf8)
            if existing != content {
                changed.append(path)
                if check { print(existing == nil ? "missing: \(path)" : "out of date: \(path)") }
            }
        }

        if check {
            for path in stale { print("stale: \(path)") }
            if !changed.isEmpty || !stale.isEmpty {
                printError("generated code is not current; run `swift run crm-protogen` from the repository root")
                throw ExitCode.failure
            }
            print("generated code is up to date (\(generated.count) files)")
            return
        }

        for path in changed {
            let url = root.appendingPathComponent(path)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try generated[path]!.write(to: url, atomically: true, encoding: .utf8)
            print("wrote \(path)")
        }
        for path in stale {
            try FileManager.default.removeItem(at: root.appendingPathComponent(path))
            print("removed \(path)")
        }
    }

    /// Swift files in the generated directories that this run did not produce.
    private func staleFiles(root: URL, generated: [String: String]) throws -> [String] {
        var stale: [String] = []
        for module in ModuleLayout.all {
            let directory = root.appendingPathComponent(module.outputDirectory)
            let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
            for name in names.sorted() where name.hasSuffix(".swift") {
                let path = module.outputDirectory + "/" + name
                if generated[path] == nil { stale.append(path) }
            }
        }
        return stale
    }

    private func printError(_ message: String) {
        FileHandle.standardError.write(Data((message + "\n").utf8))
    }
}
