/// Emits a service: its names and method paths, a client struct over `RPCChannel`, and a handler
/// protocol whose default `serviceDefinition` routes each method to the handler's function.
struct ServiceEmitter {
    let service: ServiceDecl
    let package: String

    private var fullName: String { qualified(package, service.name) }
    private var namespace: String { Naming.topLevelTypeName(package: package, name: service.name) }

    private struct Method {
        let rpc: RPCDecl
        let swiftName: String
        let path: String
        let request: String
        let response: String

        var shape: CallShape {
            switch (rpc.requestStreaming, rpc.responseStreaming) {
            case (false, false): .unary
            case (false, true): .serverStreaming
            case (true, false): .clientStreaming
            case (true, true): .bidirectional
            }
        }

        /// The proto comment, or a line saying what the call is when the proto has none.
        var doc: [String] {
            rpc.comment.isEmpty ? [" \(shape.description) call to `\(path)`."] : rpc.comment
        }
    }

    /// The four gRPC call shapes; raw values are the matching `RPCMethod` builder names.
    private enum CallShape: String {
        case unary, serverStreaming, clientStreaming, bidirectional

        var description: String {
            switch self {
            case .unary: "Unary"
            case .serverStreaming: "Server-streaming"
            case .clientStreaming: "Client-streaming"
            case .bidirectional: "Bidirectional-streaming"
            }
        }
    }

    private var methods: [Method] {
        service.rpcs.map { rpc in
            Method(
                rpc: rpc, swiftName: Naming.methodName(rpc.name), path: "/\(fullName)/\(rpc.name)",
                request: Self.swiftType(rpc.requestType), response: Self.swiftType(rpc.responseType))
        }
    }

    private static func swiftType(_ type: FieldType) -> String {
        guard case .message(let symbol) = type else { preconditionFailure("rpc types are resolved to messages") }
        return symbol.swiftName
    }

    func emit(into out: inout CodeWriter) {
        emitNames(into: &out)
        out.line()
        emitClient(into: &out)
        out.line()
        emitHandler(into: &out)
    }

    private func emitNames(into out: inout CodeWriter) {
        out.doc(service.comment)
        out.block("public enum \(namespace)") { out in
            out.line("public static let name = \"\(fullName)\"")
            out.line()
            out.line("/// The HTTP/2 path of each method.")
            out.block("public enum Method") { out in
                for method in methods {
                    out.line("public static let \(method.swiftName) = \"\(method.path)\"")
                }
            }
            out.line()
            let paths = methods.map { "Method.\($0.swiftName)" }.joined(separator: ", ")
            out.line("public static let methodPaths: [String] = [\(paths)]")
        }
    }

    private func emitClient(into out: inout CodeWriter) {
        out.line("/// Calls `\(fullName)` over any channel.")
        out.block("public struct \(namespace)Client: Sendable") { out in
            out.line("public let channel: any RPCChannel")
            out.line()
            out.block("public init(channel: any RPCChannel)") { out in
                out.line("self.channel = channel")
            }
            for method in methods {
                out.line()
                out.doc(method.doc)
                let path = "\(namespace).Method.\(method.swiftName)"
                switch method.shape {
                case .unary:
                    out.block("public func \(method.swiftName)(_ request: \(method.request), options: CallOptions = CallOptions()) async throws -> \(method.response)") { out in
                        out.line("try await channel.unary(\(path), request, options: options)")
                    }
                case .serverStreaming:
                    out.block("public func \(method.swiftName)(_ request: \(method.request), options: CallOptions = CallOptions()) async throws -> ResponseStream<\(method.response)>") { out in
                        out.line("try await channel.serverStreaming(\(path), request, options: options)")
                    }
                case .clientStreaming:
                    out.line("public func \(method.swiftName)(")
                    out.line("    options: CallOptions = CallOptions(),")
                    out.line("    requests: (RequestSender<\(method.request)>) async throws -> Void")
                    out.block(") async throws -> \(method.response)") { out in
                        out.line("try await channel.clientStreaming(\(path), options: options, requests: requests)")
                    }
                case .bidirectional:
                    out.block("public func \(method.swiftName)(options: CallOptions = CallOptions()) async throws -> BidirectionalCall<\(method.request), \(method.response)>") { out in
                        out.line("try await channel.bidirectional(\(path), options: options)")
                    }
                }
            }
        }
    }

    private func emitHandler(into out: inout CodeWriter) {
        out.line("/// Implements `\(fullName)`; register it with a server through `serviceDefinition`.")
        out.block("public protocol \(namespace)Handler: RPCService") { out in
            for (i, method) in methods.enumerated() {
                if i > 0 { out.line() }
                out.doc(method.doc)
                switch method.shape {
                case .unary:
                    out.line("func \(method.swiftName)(_ request: \(method.request), context: ServerContext) async throws -> \(method.response)")
                case .serverStreaming:
                    out.line("func \(method.swiftName)(_ request: \(method.request), responses: ResponseWriter<\(method.response)>, context: ServerContext) async throws")
                case .clientStreaming:
                    out.line("func \(method.swiftName)(_ requests: RequestStream<\(method.request)>, context: ServerContext) async throws -> \(method.response)")
                case .bidirectional:
                    out.line("func \(method.swiftName)(_ requests: RequestStream<\(method.request)>, responses: ResponseWriter<\(method.response)>, context: ServerContext) async throws")
                }
            }
        }
        out.line()
        out.block("extension \(namespace)Handler") { out in
            out.block("public var serviceDefinition: RPCServiceDefinition") { out in
                out.line("RPCServiceDefinition(name: \(namespace).name, methods: [")
                for method in methods {
                    let call = switch method.shape {
                    case .unary, .clientStreaming: "try await self.\(method.swiftName)($0, context: $1)"
                    case .serverStreaming, .bidirectional: "try await self.\(method.swiftName)($0, responses: $1, context: $2)"
                    }
                    out.line("    .\(method.shape.rawValue)(\"\(method.rpc.name)\", \(method.request).self, \(method.response).self) { \(call) },")
                }
                out.line("])")
            }
        }
    }
}
