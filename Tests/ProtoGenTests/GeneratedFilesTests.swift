import Foundation
import ProtoGen
import Testing

/// The committed generated code must be exactly what the generator makes from proto/ today.
@Suite struct GeneratedFilesTests {
    @Test func committedFilesMatchProtos() throws {
        let output = try generateAll(protoRoot: repositoryRoot + "/proto")
        for (path, content) in output.sorted(by: { $0.key < $1.key }) {
            let committed = try? String(contentsOfFile: repositoryRoot + "/" + path, encoding: .utf8)
            #expect(committed == content, "\(path) is out of date; run `swift run crm-protogen` from the repository root")
        }
    }

    @Test func noStaleGeneratedFiles() throws {
        let output = try generateAll(protoRoot: repositoryRoot + "/proto")
        for module in ModuleLayout.all {
            let directory = repositoryRoot + "/" + module.outputDirectory
            for name in try FileManager.default.contentsOfDirectory(atPath: directory) {
                let path = module.outputDirectory + "/" + name
                #expect(output[path] != nil, "\(path) is not generated from any .proto; run `swift run crm-protogen`")
            }
        }
    }

    @Test func outputIsDeterministic() throws {
        let first = try generateAll(protoRoot: repositoryRoot + "/proto")
        let second = try generateAll(protoRoot: repositoryRoot + "/proto")
        #expect(first == second)
    }
}
