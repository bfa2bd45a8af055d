import Foundation

/// Finds the contracts (proto/) crm-admin reads to speak proto3 JSON: `--proto-dir`, then
/// `CRM_PROTO_DIR`, then `./proto`, then a `proto/` beside or above the executable (a checkout's
/// `.build/debug/crm-admin`), then the container image's `/usr/share/crm/proto`.
enum SchemaLocator {
    static func load(flag: String?) throws -> ProtoSchema {
        let directory = try locate(flag: flag)
        do {
            return try ProtoSchemaParser.load(root: directory)
        } catch let error as ProtoSchemaError {
            throw AdminError("reading the contracts in \(directory): \(error.description)")
        }
    }

    static func locate(flag: String?) throws -> String {
        if let explicit = Environment.value(flag, "CRM_PROTO_DIR") {
            guard isProtoRoot(explicit) else { throw AdminError("\(explicit) holds no crm/ contracts (proto directory)") }
            return explicit
        }
        var candidates = [FileManager.default.currentDirectoryPath + "/proto"]
        let executable = URL(fileURLWithPath: (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
                             ?? CommandLine.arguments[0]).resolvingSymlinksInPath()
        var directory = executable.deletingLastPathComponent()
        for _ in 0..<6 {
            candidates.append(directory.appendingPathComponent("proto").path)
            directory = directory.deletingLastPathComponent()
        }
        candidates.append("/usr/share/crm/proto")
        guard let found = candidates.first(where: isProtoRoot) else {
            throw AdminError("cannot find the proto/ contracts; pass --proto-dir or set CRM_PROTO_DIR")
        }
        return found
    }

    private static func isProtoRoot(_ path: String) -> Bool {
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: path + "/crm", isDirectory: &isDirectory) && isDirectory.boolValue
    }
}
