/// Checks on resolved messages that protoc would also make, plus the ones our Swift mapping needs.
enum FieldChecks {
    static func validate(_ message: MessageDecl, fullName: String) throws(ProtoGenError) {
        var numbers: [Int: FieldDecl] = [:]
        var names: [String: FieldDecl] = [:]
        var swiftNames: [String: FieldDecl] = [:]
        for field in message.fields {
            if let previous = numbers[field.number] {
                throw field.location.error(
                    "field number \(field.number) of '\(field.name)' is already used by '\(previous.name)' in \(fullName)")
            }
            if let previous = names[field.name] {
                throw field.location.error("field '\(field.name)' is already defined at line \(previous.location.line)")
            }
            let swiftName = Naming.fieldName(field.name)
            if let previous = swiftNames[swiftName] {
                throw field.location.error("fields '\(field.name)' and '\(previous.name)' both become Swift property '\(swiftName)'")
            }
            if message.reserved.contains(field.number) {
                throw field.location.error("field '\(field.name)' uses reserved number \(field.number)")
            }
            if message.reserved.names.contains(field.name) {
                throw field.location.error("field name '\(field.name)' is reserved")
            }
            numbers[field.number] = field
            names[field.name] = field
            swiftNames[swiftName] = field
        }
    }
}

/// Rejects messages that contain themselves through singular message fields.
///
/// Generated messages are structs holding singular sub-messages inline as Optionals, and a struct
/// cannot contain itself. Repeated and map fields are fine: arrays and dictionaries are indirect.
enum RecursionCheck {
    private struct Edge {
        var target: String
        var field: FieldDecl
        var owner: String
    }

    static func run(_ files: [ProtoFile]) throws(ProtoGenError) {
        var edges: [String: [Edge]] = [:]
        var order: [String] = []
        for file in files {
            for message in file.messages { collect(message, scope: file.package, into: &edges, order: &order) }
        }
        var state: [String: Bool] = [:]  // false: on the current path, true: finished
        var path: [Edge] = []
        for start in order where state[start] == nil {
            try visit(start, edges: edges, state: &state, path: &path)
        }
    }

    private static func collect(_ message: MessageDecl, scope: String, into edges: inout [String: [Edge]], order: inout [String]) {
        let fullName = qualified(scope, message.name)
        order.append(fullName)
        edges[fullName] = message.fields.compactMap { field in
            guard field.label != .repeated, case .message(let target) = field.type else { return nil }
            return Edge(target: target.fullName, field: field, owner: fullName)
        }
        for nested in message.messages { collect(nested, scope: fullName, into: &edges, order: &order) }
    }

    private static func visit(_ node: String, edges: [String: [Edge]], state: inout [String: Bool], path: inout [Edge]) throws(ProtoGenError) {
        state[node] = false
        for edge in edges[node] ?? [] {
            path.append(edge)
            switch state[edge.target] {
            case false?:
                let cycle = path.drop { $0.owner != edge.target }
                let description = cycle.map { "\($0.owner).\($0.field.name)" }.joined(separator: " → ")
                throw cycle.first!.field.location.error(
                    "recursive message type: \(description) → \(edge.target); a singular message field cannot "
                        + "contain its own type (generated structs hold sub-messages inline), use repeated or break the cycle")
            case nil:
                try visit(edge.target, edges: edges, state: &state, path: &path)
            case true?:
                break
            }
            path.removeLast()
        }
        state[node] = true
    }
}
