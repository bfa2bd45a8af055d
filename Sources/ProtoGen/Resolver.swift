/// Resolves type references across files and checks what the parser cannot see locally.
///
/// Name lookup follows protoc (C++-style scoping): a relative name is searched from the innermost
/// enclosing scope outward, and the first scope where its *first component* exists decides —
/// protoc does not backtrack to outer scopes if the rest of the name is missing there. A leading
/// dot makes a name fully qualified. A type is visible from a file only if it is declared there,
/// in a file it imports, or in a file re-exported by `import public` along that chain.
struct Resolver {
    private enum Symbol {
        case package
        case type(TypeSymbol, SourceLocation)
    }

    private var symbols: [String: Symbol] = [:]
    private let filesByPath: [String: ProtoFile]

    /// Resolves every file; `files` must contain every import target.
    static func resolve(_ files: [ProtoFile]) throws(ProtoGenError) -> [ProtoFile] {
        var resolver = Resolver(filesByPath: Dictionary(files.map { ($0.path, $0) }, uniquingKeysWith: { a, _ in a }))
        for file in files { try resolver.declare(file) }
        var resolved: [ProtoFile] = []
        for file in files { resolved.append(try resolver.resolveFile(file)) }
        try RecursionCheck.run(resolved)
        return resolved
    }

    private init(filesByPath: [String: ProtoFile]) {
        self.filesByPath = filesByPath
    }

    // MARK: Symbol table

    private mutating func declare(_ file: ProtoFile) throws(ProtoGenError) {
        var prefix = ""
        for part in file.package.split(separator: ".") {
            prefix = prefix.isEmpty ? String(part) : prefix + "." + part
            if case .type(let existing, let location) = symbols[prefix] {
                throw (file.packageLocation ?? location).error(
                    "package '\(prefix)' clashes with type '\(existing.fullName)' declared at \(location.file):\(location.line)")
            }
            symbols[prefix] = .package
        }
        for message in file.messages {
            try declare(message, scope: file.package, swiftParent: nil, file: file)
        }
        for decl in file.enums {
            try declare(decl, scope: file.package, swiftParent: nil, file: file)
        }
    }

    private mutating func declare(_ message: MessageDecl, scope: String, swiftParent: String?, file: ProtoFile) throws(ProtoGenError) {
        let symbol = TypeSymbol(
            kind: .message, fullName: qualified(scope, message.name),
            swiftName: Naming.swiftTypeName(message.name, parent: swiftParent, package: file.package), file: file.path)
        try add(symbol, at: message.location)
        for nested in message.messages {
            try declare(nested, scope: symbol.fullName, swiftParent: symbol.swiftName, file: file)
        }
        for nested in message.enums {
            try declare(nested, scope: symbol.fullName, swiftParent: symbol.swiftName, file: file)
        }
    }

    private mutating func declare(_ decl: EnumDecl, scope: String, swiftParent: String?, file: ProtoFile) throws(ProtoGenError) {
        let symbol = TypeSymbol(
            kind: .enumeration, fullName: qualified(scope, decl.name),
            swiftName: Naming.swiftTypeName(decl.name, parent: swiftParent, package: file.package), file: file.path,
            zeroCase: Naming.enumCaseName(value: decl.values[0].name, enumName: decl.name))
        try add(symbol, at: decl.location)
    }

    private mutating func add(_ symbol: TypeSymbol, at location: SourceLocation) throws(ProtoGenError) {
        switch symbols[symbol.fullName] {
        case .type(_, let previous)?:
            throw location.error("'\(symbol.fullName)' is already defined at \(previous.file):\(previous.line)")
        case .package?:
            throw location.error("'\(symbol.fullName)' is already defined as a package")
        case nil:
            symbols[symbol.fullName] = .type(symbol, location)
        }
    }

    // MARK: Resolution

    private func resolveFile(_ file: ProtoFile) throws(ProtoGenError) -> ProtoFile {
        var file = file
        let visible = try visibleFiles(from: file)
        for i in file.messages.indices {
            try resolve(&file.messages[i], scope: file.package, visible: visible)
        }
        for i in file.enums.indices { try validate(file.enums[i]) }
        for i in file.services.indices {
            try resolve(&file.services[i], package: file.package, visible: visible)
        }
        return file
    }

    /// This file, its imports, and whatever those re-export through `import public` (transitively).
    private func visibleFiles(from file: ProtoFile) throws(ProtoGenError) -> Set<String> {
        var visible: Set<String> = [file.path]
        var queue: [ProtoFile] = []
        for imported in file.imports {
            guard let target = filesByPath[imported.path] else {
                throw imported.location.error("imported file '\(imported.path)' not found under the proto root")
            }
            if visible.insert(target.path).inserted { queue.append(target) }
        }
        while let next = queue.popLast() {
            for imported in next.imports where imported.isPublic {
                if let target = filesByPath[imported.path], visible.insert(target.path).inserted {
                    queue.append(target)
                }
            }
        }
        return visible
    }

    private func resolve(_ message: inout MessageDecl, scope: String, visible: Set<String>) throws(ProtoGenError) {
        let fullName = qualified(scope, message.name)
        for i in message.fields.indices {
            message.fields[i].type = try resolve(
                message.fields[i].type, scope: fullName, visible: visible, at: message.fields[i].location)
        }
        try FieldChecks.validate(message, fullName: fullName)
        for i in message.messages.indices {
            try resolve(&message.messages[i], scope: fullName, visible: visible)
        }
        for nested in message.enums { try validate(nested) }
    }

    private func resolve(_ service: inout ServiceDecl, package: String, visible: Set<String>) throws(ProtoGenError) {
        var names: [String: SourceLocation] = [:]
        let scope = qualified(package, service.name)
        for i in service.rpcs.indices {
            let rpc = service.rpcs[i]
            if let previous = names[Naming.methodName(rpc.name)] {
                throw rpc.location.error("rpc '\(rpc.name)' clashes with the rpc at line \(previous.line) (same Swift method name)")
            }
            names[Naming.methodName(rpc.name)] = rpc.location
            for keyPath in [\RPCDecl.requestType, \RPCDecl.responseType] {
                let type = try resolve(rpc[keyPath: keyPath], scope: scope, visible: visible, at: rpc.location)
                guard case .message = type else {
                    throw rpc.location.error("rpc '\(rpc.name)' argument must be a message type")
                }
                service.rpcs[i][keyPath: keyPath] = type
            }
        }
    }

    private func resolve(_ type: FieldType, scope: String, visible: Set<String>, at location: SourceLocation) throws(ProtoGenError) -> FieldType {
        switch type {
        case .scalar, .message, .enumeration:
            return type
        case .map(let key, let value):
            if case .map = value { throw location.error("map values cannot be maps") }
            return .map(key: key, value: try resolve(value, scope: scope, visible: visible, at: location))
        case .named(let name):
            guard let symbol = lookup(name, scope: scope) else {
                throw location.error("unknown type '\(name)'")
            }
            guard visible.contains(symbol.file) else {
                throw location.error("'\(name)' is defined in '\(symbol.file)', which is not imported here")
            }
            return symbol.kind == .message ? .message(symbol) : .enumeration(symbol)
        }
    }

    /// protoc's scoping: see the type comment.
    private func lookup(_ name: String, scope: String) -> TypeSymbol? {
        if name.hasPrefix(".") { return typeSymbol(String(name.dropFirst())) }
        let firstPart = String(name.prefix { $0 != "." })
        let isCompound = firstPart.count < name.count
        var scopeParts = scope.split(separator: ".").map(String.init)
        while true {
            let prefix = scopeParts.joined(separator: ".")
            if let found = symbols[qualified(prefix, firstPart)] {
                if !isCompound, case .type(let symbol, _) = found { return symbol }
                // A compound name commits to the first aggregate (package or message) it finds.
                if isCompound, isAggregate(found) { return typeSymbol(qualified(prefix, name)) }
            }
            if scopeParts.isEmpty { return nil }
            scopeParts.removeLast()
        }
    }

    private func isAggregate(_ symbol: Symbol) -> Bool {
        switch symbol {
        case .package: true
        case .type(let type, _): type.kind == .message
        }
    }

    private func typeSymbol(_ fullName: String) -> TypeSymbol? {
        if case .type(let symbol, _)? = symbols[fullName] { return symbol }
        return nil
    }

    // MARK: Enums

    private func validate(_ decl: EnumDecl) throws(ProtoGenError) {
        var cases: [String: EnumValueDecl] = [:]
        for value in decl.values {
            if decl.reserved.contains(Int(value.number)) {
                throw value.location.error("enum value \(value.name) uses reserved number \(value.number)")
            }
            if decl.reserved.names.contains(value.name) {
                throw value.location.error("enum value name '\(value.name)' is reserved")
            }
            let caseName = Naming.enumCaseName(value: value.name, enumName: decl.name)
            if let previous = cases[caseName] {
                throw value.location.error(
                    "enum value \(value.name) and \(previous.name) (line \(previous.location.line)) both become Swift case '\(caseName)'")
            }
            cases[caseName] = value
        }
    }
}

func qualified(_ scope: String, _ name: String) -> String {
    scope.isEmpty ? name : scope + "." + name
}
