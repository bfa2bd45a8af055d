/// crm-protogen: our own .proto parser and Swift code generator (no protoc, no swift-protobuf).
///
/// Regenerate from the repository root with `swift run crm-protogen` (or
/// `swift run crm-protogen --check` to only verify that the committed files are current).
///
/// Pipeline: `Lexer` → `Parser` (one `ProtoFile` per .proto) → `Resolver` (type references,
/// imports, field and recursion checks) → emitters (`FileEmitter`, `MessageEmitter`,
/// `EnumEmitter`, `ServiceEmitter`) writing through `CodeWriter`. Naming rules are in `Naming`,
/// the proto→Swift type mapping in `ValueType` and `FieldCode`.
///
/// Supported input: proto3 only — `syntax`, `package`, `import` (also `public`/`weak`), `option`
/// (skipped, aggregates included), messages with nested messages/enums, `reserved`, `repeated`
/// and `optional` fields, scalars, `map<K, V>`, enums (aliases allowed; bracket options skipped),
/// and services with all four streaming shapes. Rejected with file:line: proto2/editions,
/// `oneof`, extensions, groups, unknown or unimported types, and messages that contain
/// themselves through singular fields (generated structs hold sub-messages inline).
///
/// Output conventions (see the emitters for details): `crm.leads.v1.Lead` becomes
/// `public struct Crm_Leads_V1_Lead: ProtoMessage`; enums are open (`unrecognized(Int32)`);
/// `map<string, V>` becomes `[MapKeyString: V]` (keys compare by bytes, not canonical equivalence);
/// each service gets a names enum, a `…Client` over `RPCChannel` and a `…Handler` protocol.
/// One Swift file per .proto plus a registry per module; output is deterministic.
import Foundation

/// A Swift module that receives generated code, and the proto directories that feed it.
public struct ModuleLayout: Sendable {
    public let name: String
    /// Directories relative to the proto root, each ending in `/`.
    public let protoDirectories: [String]

    public var outputDirectory: String { "Sources/\(name)/Generated" }
    public var registryName: String { "\(name)Registry" }
    public var descriptorsName: String { "\(name)Descriptors" }

    public static let all = [
        ModuleLayout(name: "CRMProto", protoDirectories: ["crm/", "grpc/health/"]),
        ModuleLayout(name: "InteropProto", protoDirectories: ["grpc/testing/"]),
    ]

    static func containing(_ path: String) -> ModuleLayout? {
        all.first { module in module.protoDirectories.contains { path.hasPrefix($0) } }
    }
}

/// Generates every module from the .proto files under `protoRoot`.
/// Returns repository-relative output path → file content.
public func generateAll(protoRoot: String) throws -> [String: String] {
    try generate(sources: loadProtoSources(root: protoRoot))
}

/// Every `.proto` under `root`, keyed by path relative to it.
public func loadProtoSources(root: String) throws -> [String: String] {
    let rootURL = URL(fileURLWithPath: root, isDirectory: true)
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: rootURL.path, isDirectory: &isDirectory), isDirectory.boolValue,
          let enumerator = FileManager.default.enumerator(atPath: rootURL.path) else {
        throw ProtoGenError(file: root, line: 0, "proto root is not a directory")
    }
    var sources: [String: String] = [:]
    while let relative = enumerator.nextObject() as? String {
        guard relative.hasSuffix(".proto") else { continue }
        let url = rootURL.appendingPathComponent(relative)
        sources[relative] = try String(contentsOf: url, encoding: .utf8)
    }
    // An empty root is almost certainly a wrong path; generating from it would delete everything.
    guard !sources.isEmpty else { throw ProtoGenError(file: root, line: 0, "no .proto files under the proto root") }
    return sources
}

/// Generates every module from in-memory sources (path relative to the proto root → text).
public func generate(sources: [String: String]) throws -> [String: String] {
    var files: [ProtoFile] = []
    for path in sources.keys.sorted() {
        files.append(try Parser.parse(sources[path]!, path: path, displayPath: "proto/" + path))
    }
    try checkModules(files)
    let resolved = try Resolver.resolve(files)

    var output: [String: String] = [:]
    for module in ModuleLayout.all {
        let moduleFiles = resolved.filter { ModuleLayout.containing($0.path)?.name == module.name }
        try checkTopLevelNames(moduleFiles, module: module)
        for file in moduleFiles {
            output[module.outputDirectory + "/" + outputFileName(file.path)] = FileEmitter.emit(file)
        }
        output[module.outputDirectory + "/" + module.registryName + ".swift"] =
            FileEmitter.emitRegistry(module, files: moduleFiles)
        output[module.outputDirectory + "/" + module.descriptorsName + ".swift"] =
            DescriptorEmitter.emit(module, files: moduleFiles)
    }
    return output
}

/// `crm/leads/v1/leads.proto` → `crm_leads_v1_leads.pb.swift`
func outputFileName(_ protoPath: String) -> String {
    let stem = protoPath.hasSuffix(".proto") ? String(protoPath.dropLast(".proto".count)) : protoPath
    return stem.replacingOccurrences(of: "/", with: "_") + ".pb.swift"
}

/// Every file must belong to a module, and may import only files of the same module
/// (generated modules do not depend on each other).
private func checkModules(_ files: [ProtoFile]) throws(ProtoGenError) {
    let known = Set(files.map(\.path))
    var outputNames: [String: String] = [:]
    for file in files {
        let location = SourceLocation(file: "proto/" + file.path, line: 1, column: 0)
        guard let module = ModuleLayout.containing(file.path) else {
            let layout = ModuleLayout.all.map { m in
                "\(m.name) ← " + m.protoDirectories.map { "proto/" + $0 }.joined(separator: ", ")
            }.joined(separator: "; ")
            throw location.error("file is outside the module layout (\(layout))")
        }
        let outputName = module.name + "/" + outputFileName(file.path)
        if let other = outputNames[outputName] {
            throw location.error("generates the same file name as proto/\(other)")
        }
        outputNames[outputName] = file.path
        for imported in file.imports {
            guard known.contains(imported.path) else {
                throw imported.location.error("imported file 'proto/\(imported.path)' not found")
            }
            guard let target = ModuleLayout.containing(imported.path), target.name == module.name else {
                throw imported.location.error(
                    "'\(imported.path)' belongs to another module than \(module.name); cross-module imports are not supported")
            }
        }
    }
}

/// Top-level Swift names must be unique within a module (e.g. a message `FooClient` next to a
/// service `Foo` would collide with the generated client).
private func checkTopLevelNames(_ files: [ProtoFile], module: ModuleLayout) throws(ProtoGenError) {
    var taken: [String: SourceLocation] = [
        module.registryName: SourceLocation(file: module.outputDirectory, line: 1, column: 0),
        module.descriptorsName: SourceLocation(file: module.outputDirectory, line: 1, column: 0),
    ]
    func claim(_ name: String, at location: SourceLocation) throws(ProtoGenError) {
        if let previous = taken[name] {
            throw location.error("Swift type '\(name)' is also generated for \(previous.file):\(previous.line)")
        }
        taken[name] = location
    }
    for file in files {
        for message in file.messages {
            try claim(Naming.topLevelTypeName(package: file.package, name: message.name), at: message.location)
        }
        for decl in file.enums {
            try claim(Naming.topLevelTypeName(package: file.package, name: decl.name), at: decl.location)
        }
        for service in file.services {
            let namespace = Naming.topLevelTypeName(package: file.package, name: service.name)
            for name in [namespace, namespace + "Client", namespace + "Handler"] {
                try claim(name, at: service.location)
            }
        }
    }
}
