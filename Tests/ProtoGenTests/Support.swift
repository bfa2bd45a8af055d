@testable import ProtoGen
import Testing

/// The repository root, found from this file's location (Tests/ProtoGenTests/Support.swift).
let repositoryRoot: String = {
    var parts = #filePath.split(separator: "/", omittingEmptySubsequences: false)
    parts.removeLast(3)
    return parts.joined(separator: "/")
}()

/// Generates from in-memory files (paths relative to the proto root) and returns the Swift file of `path`.
func generated(_ sources: [String: String], file path: String) throws -> String {
    let output = try generate(sources: sources)
    let module = ModuleLayout.all.first { m in m.protoDirectories.contains { path.hasPrefix($0) } }!
    return try #require(output[module.outputDirectory + "/" + outputFileName(path)])
}

/// Parses and resolves in-memory files, returning them by path.
func resolved(_ sources: [String: String]) throws -> [String: ProtoFile] {
    var files: [ProtoFile] = []
    for path in sources.keys.sorted() {
        files.append(try Parser.parse(sources[path]!, path: path, displayPath: "proto/" + path))
    }
    return Dictionary(uniqueKeysWithValues: try Resolver.resolve(files).map { ($0.path, $0) })
}

/// The error generating `sources` throws; records a failure if it succeeds.
func generationError(_ sources: [String: String], sourceLocation: Testing.SourceLocation = #_sourceLocation) -> ProtoGenError? {
    do {
        _ = try generate(sources: sources)
        Issue.record("expected an error", sourceLocation: sourceLocation)
    } catch let error as ProtoGenError {
        return error
    } catch {
        Issue.record("unexpected error \(error)", sourceLocation: sourceLocation)
    }
    return nil
}

/// A one-file proto3 source with the header every test file needs.
func proto3(_ body: String, package: String = "crm.t.v1") -> String {
    "syntax = \"proto3\";\npackage \(package);\n" + body
}
