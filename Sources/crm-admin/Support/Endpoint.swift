import ArgumentParser
import CRMClient
import Foundation
import RPCCore
import RPCHTTP2
import ServiceRuntime

/// A process crm-admin talks to, with the metadata every call carries: either the suite's service
/// token plus an admin identity (talking to a service directly, as operators on the host do), or
/// a bearer token (going through the gateway with `CRMClient`, as any internal Swift client does).
struct Endpoint: Sendable {
    let address: String
    let channel: any RPCChannel
    let metadata: Metadata
    let timeout: Duration
    private let closeConnection: @Sendable () async -> Void

    /// A service called directly over its own connection.
    init(address: String, metadata: Metadata, timeout: Duration) throws {
        let transport: HTTP2Channel
        do {
            transport = try HTTP2Channel(address: address)
        } catch {
            throw AdminError("'\(address)' is not HOST:PORT", code: AdminExit.usage)
        }
        self.address = address
        channel = transport
        self.metadata = metadata
        self.timeout = timeout
        closeConnection = { await transport.close() }
    }

    /// The gateway, through the suite's typed client library (bearer token, deadline, retries).
    init(gateway address: String, token: String, timeout: Duration) throws {
        let client: CRMClient
        do {
            client = try CRMClient(gateway: address, token: token,
                                   configuration: CRMClient.Configuration(defaultTimeout: timeout))
        } catch {
            throw AdminError("'\(address)' is not HOST:PORT", code: AdminExit.usage)
        }
        self.address = address
        channel = client.channel
        metadata = Metadata()
        self.timeout = timeout
        closeConnection = { await client.close() }
    }

    func options(timeout: Duration? = nil) -> CallOptions {
        CallOptions(timeout: timeout ?? self.timeout, metadata: metadata)
    }

    func close() async { await closeConnection() }

    /// A server-streaming call on raw bytes: `each` sees every response message.
    func serverStreaming(_ path: String, request: [UInt8], timeout: Duration? = nil,
                         each: ([UInt8]) throws -> Void) async throws {
        let call = try await channel.makeCall(path: path, options: options(timeout: timeout))
        try await call.send(request)
        try await call.finishSending()
        while let message = try await call.receive() { try each(message) }
    }

    /// A client-streaming call on raw bytes: sends `requests` in order, returns the one response.
    func clientStreaming(_ path: String, requests: [[UInt8]], timeout: Duration? = nil,
                         sent: (Int) -> Void = { _ in }) async throws -> [UInt8] {
        let call = try await channel.makeCall(path: path, options: options(timeout: timeout))
        do {
            for (index, request) in requests.enumerated() {
                try await call.send(request)
                sent(index + 1)
            }
            try await call.finishSending()
        } catch {
            // The server may have ended the call early; its status says more than our send error.
            while try await call.receive() != nil {}
            throw error
        }
        guard let response = try await call.receive() else {
            throw RPCError(.internal, "\(path) ended with OK and no response")
        }
        while try await call.receive() != nil {}
        return response
    }
}

/// How to reach one service of the suite: directly with the service token (default), or through
/// the gateway with a bearer token (`--gateway`).
struct ServiceAccess: ParsableArguments {
    @Option(help: "The service's HOST:PORT (default: env CRM_<SERVICE>_ADDR, else the suite's default port).")
    var addr: String?

    @Option(name: .customLong("service-token"), help: "The suite's service token, for calling a service directly (env CRM_SERVICE_TOKEN).")
    var serviceToken: String?

    @Option(name: .customLong("as-user"), help: "User id recorded as the actor of direct calls (they run with the admin role).")
    var asUser: String = "crm-admin"

    @Option(help: "Go through the gateway at HOST:PORT with a bearer token instead of calling the service directly.")
    var gateway: String?

    @Option(help: "Bearer token for --gateway (env CRM_TOKEN, then CRM_ADMIN_TOKEN).")
    var token: String?

    @Option(help: "Deadline of each call in seconds.")
    var timeout: Double = 60

    func endpoint(for service: String) throws -> Endpoint {
        let deadline = Duration.milliseconds(Int64(timeout * 1000))
        // The gateway's own data (users, teams, tokens) is only ever reached as a client of it.
        let viaGateway = Environment.value(gateway) ?? (service == "gateway" ? Environment.address(of: "gateway", flag: addr) : nil)
        if let viaGateway {
            guard let token = Environment.value(token, "CRM_TOKEN", "CRM_ADMIN_TOKEN") else {
                throw AdminError("calling through the gateway needs --token (or CRM_TOKEN / CRM_ADMIN_TOKEN)", code: AdminExit.usage)
            }
            return try Endpoint(gateway: viaGateway, token: token, timeout: deadline)
        }
        guard let serviceToken = Environment.value(serviceToken, "CRM_SERVICE_TOKEN") else {
            throw AdminError("calling crm-\(service) directly needs --service-token (or CRM_SERVICE_TOKEN); or use --gateway with --token",
                             code: AdminExit.usage)
        }
        let identity = Caller(userID: asUser, role: .admin, team: "")
        return try Endpoint(address: Environment.address(of: service, flag: addr),
                            metadata: identity.metadata(serviceToken: serviceToken), timeout: deadline)
    }
}

/// How to reach the gateway as a client: its address and a bearer token.
struct GatewayAccess: ParsableArguments {
    @Option(help: "The gateway's HOST:PORT (default: env CRM_GATEWAY_ADDR, else 127.0.0.1:7400).")
    var gateway: String?

    @Option(help: "Bearer token (env CRM_TOKEN, then CRM_ADMIN_TOKEN): the admin token, or an admin user's API token.")
    var token: String?

    @Option(help: "Deadline of each call in seconds.")
    var timeout: Double = 30

    var address: String { Environment.address(of: "gateway", flag: gateway) }

    var bearer: String? { Environment.value(token, "CRM_TOKEN", "CRM_ADMIN_TOKEN") }

    func endpoint() throws -> Endpoint {
        guard let bearer else {
            throw AdminError("the gateway needs a bearer token: --token (or CRM_TOKEN / CRM_ADMIN_TOKEN)", code: AdminExit.usage)
        }
        return try endpoint(token: bearer)
    }

    /// An endpoint acting with another token (seed acts as each demo user).
    func endpoint(token: String) throws -> Endpoint {
        try Endpoint(gateway: address, token: token, timeout: .milliseconds(Int64(timeout * 1000)))
    }
}

extension RPCError {
    /// One line for an operator: the status name and the server's message.
    var summary: String { message.isEmpty ? "\(code)" : "\(code): \(message)" }
}

/// Runs `body`, turning RPC failures into crm-admin's "could not run" exit with the status named.
func rpc<T>(_ what: String, _ body: () async throws -> T) async throws -> T {
    do {
        return try await body()
    } catch let error as RPCError {
        throw AdminError("\(what): \(error.summary)")
    }
}
