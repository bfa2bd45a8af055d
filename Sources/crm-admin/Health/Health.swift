import ArgumentParser
import CRMProto
import Foundation
import RPCCore
import RPCHTTP2

/// `crm-admin health`: standard gRPC health of every process, and the backends as the gateway sees them.
struct Health: AdminCommand {
    static let configuration = CommandConfiguration(
        abstract: "gRPC health of every process: service, address, status, latency; plus backend health as the gateway sees it.",
        discussion: """
            With no addresses, checks the six processes of the suite at their addresses (CRM_<SERVICE>_ADDR or the \
            default ports). With ADDR…, checks those (each process is named by the services its health reports). \
            With --gateway, checks the gateway and lists its backends as it sees them (needs --token). \
            Exits 1 if anything is not SERVING. \(AdminExit.helpText)
            """)

    @Argument(help: "HOST:PORT of processes to check (default: the six processes of the suite).")
    var addresses: [String] = []

    @Option(help: "Check this gateway and show its backends' health as it sees them.")
    var gateway: String?

    @Option(help: "Bearer token for the gateway's backend view (env CRM_TOKEN, then CRM_ADMIN_TOKEN).")
    var token: String?

    @Flag(help: "Keep checking and redraw the table (Ctrl-C stops).")
    var watch = false

    @Option(help: "Seconds between checks with --watch.")
    var interval: Double = 2

    @Option(help: "Deadline of each health check in seconds.")
    var timeout: Double = 2

    mutating func execute() async throws -> Int32 {
        let targets = try plan()
        let token = Environment.value(token, "CRM_TOKEN", "CRM_ADMIN_TOKEN")
        let gatewayAddress: String? = gateway ?? (addresses.isEmpty ? Environment.address(of: "gateway") : nil)
        let deadline = Duration.milliseconds(Int64(timeout * 1000))
        let channels = try Dictionary(uniqueKeysWithValues: Set(targets.map(\.address) + [gatewayAddress].compactMap { $0 })
            .map { address in
                do { return (address, try HTTP2Channel(address: address)) } catch {
                    throw AdminError("'\(address)' is not HOST:PORT", code: AdminExit.usage)
                }
            })
        defer { Task { for channel in channels.values { await channel.close() } } }
        while true {
            let rows = await withTaskGroup(of: (Int, HealthRow).self) { group in
                for (index, target) in targets.enumerated() {
                    group.addTask { (index, await HealthProbe.check(target, channel: channels[target.address]!, timeout: deadline)) }
                }
                var rows = [HealthRow?](repeating: nil, count: targets.count)
                for await (index, row) in group { rows[index] = row }
                return rows.compactMap { $0 }
            }
            var backendView: BackendView?
            if let gatewayAddress, let channel = channels[gatewayAddress] {
                backendView = await HealthProbe.backends(channel: channel, token: token, timeout: deadline)
            }
            if watch, Output.stdoutIsTerminal { print("\u{1B}[H\u{1B}[2J", terminator: "") }
            let healthy = render(rows: rows, backends: backendView, gateway: gatewayAddress)
            if !watch { return healthy ? AdminExit.ok : AdminExit.problems }
            Output.line("(\(ISO8601DateFormatter().string(from: Date())); every \(interval) s; Ctrl-C stops)")
            Output.flush()
            try await Task.sleep(for: .milliseconds(Int64(interval * 1000)))
        }
    }

    /// Which addresses to check, with the service name when the suite's layout tells it.
    private func plan() throws -> [HealthTarget] {
        if !addresses.isEmpty { return addresses.map { HealthTarget(address: $0, expected: nil) } }
        if let gateway { return [HealthTarget(address: gateway, expected: "gateway")] }
        return ["gateway", "leads", "customers", "opportunities", "tickets", "forecast"].map {
            HealthTarget(address: Environment.address(of: $0), expected: $0)
        }
    }

    /// Prints the tables; true when every row is SERVING.
    private func render(rows: [HealthRow], backends: BackendView?, gateway: String?) -> Bool {
        var healthy = rows.allSatisfy(\.isServing)
        let table = Output.table(["SERVICE", "ADDRESS", "STATUS", "LATENCY", "DETAIL"], rows.map {
            [$0.service, $0.address, $0.status, $0.latencyText, $0.detail]
        })
        table.forEach(Output.line)
        switch backends {
        case .some(.rows(let backendRows)):
            Output.line("")
            Output.line("Backends as the gateway at \(gateway ?? "") sees them:")
            Output.table(["BACKEND", "ADDRESS", "HEALTH", "LATENCY", "LAST ERROR"], backendRows.map {
                [$0.name, $0.address, $0.health, "\($0.latencyMs) ms", $0.lastError]
            }).forEach(Output.line)
            healthy = healthy && backendRows.allSatisfy { $0.health == "SERVING" }
        case .some(.unavailable(let reason)):
            Output.line("")
            Output.line("Backends as the gateway sees them: \(reason)")
        case .none:
            break
        }
        return healthy
    }
}

struct HealthTarget: Sendable {
    var address: String
    /// The service the suite's layout puts there; nil when the process must name itself.
    var expected: String?
}

struct HealthRow: Sendable {
    var service: String
    var address: String
    var status: String
    var latencyMs: Double?
    var detail: String

    var isServing: Bool { status == "SERVING" }
    var latencyText: String { latencyMs.map { String(format: "%.1f ms", $0) } ?? "-" }
}

enum BackendView: Sendable {
    struct Row: Sendable {
        var name, address, health: String
        var latencyMs: Int64
        var lastError: String
    }
    case rows([Row])
    case unavailable(String)
}

enum HealthProbe {
    /// Health names of the suite's services, gateway first (the gateway also reports its backends).
    static let serviceNames: [(String, String)] = [("gateway", "crm.gateway.v1.GatewayService")]
        + ServiceCatalog.all.filter { $0.name != "gateway" }.map { ($0.name, $0.healthName) }

    static func check(_ target: HealthTarget, channel: HTTP2Channel, timeout: Duration) async -> HealthRow {
        let client = Grpc_Health_V1_HealthClient(channel: channel)
        let started = ContinuousClock.now
        var row = HealthRow(service: target.expected ?? "?", address: target.address, status: "UNREACHABLE", latencyMs: nil, detail: "")
        do {
            let response = try await client.check(Grpc_Health_V1_HealthCheckRequest(service: ""), options: CallOptions(timeout: timeout))
            row.latencyMs = Milliseconds.of(ContinuousClock.now - started)
            row.status = response.status.protoName
        } catch let error as RPCError {
            row.status = error.code == .deadlineExceeded ? "TIMEOUT" : "UNREACHABLE"
            row.detail = error.message.contains("Connection refused") ? "connection refused" : error.summary
            return row
        } catch {
            row.detail = "\(error)"
            return row
        }
        if target.expected == nil { row.service = await name(of: client, timeout: timeout) }
        return row
    }

    /// The suite service a process hosts, from the names its health service knows.
    static func name(of client: Grpc_Health_V1_HealthClient, timeout: Duration) async -> String {
        for (name, healthName) in serviceNames {
            if (try? await client.check(Grpc_Health_V1_HealthCheckRequest(service: healthName),
                                        options: CallOptions(timeout: timeout))) != nil {
                return name
            }
        }
        return "(not a suite service)"
    }

    /// ListBackends through the gateway (needs a bearer token).
    static func backends(channel: HTTP2Channel, token: String?, timeout: Duration) async -> BackendView {
        guard let token else { return .unavailable("pass --token (or set CRM_ADMIN_TOKEN) to see them") }
        let client = Crm_Gateway_V1_GatewayServiceClient(channel: channel)
        do {
            let response = try await client.listBackends(
                Crm_Gateway_V1_ListBackendsRequest(),
                options: CallOptions(timeout: timeout, metadata: Metadata([("authorization", "Bearer \(token)")])))
            return .rows(response.backends.map { backend in
                BackendView.Row(name: Naming.short(backend.backend.protoName, prefix: "BACKEND_").lowercased(), address: backend.address,
                                health: Naming.short(backend.health.protoName, prefix: "BACKEND_HEALTH_"),
                                latencyMs: backend.latencyMs, lastError: backend.lastError)
            })
        } catch let error as RPCError {
            return .unavailable(error.summary)
        } catch {
            return .unavailable("\(error)")
        }
    }
}

enum Naming {
    /// `BACKEND_HEALTH_SERVING` → `SERVING`.
    static func short(_ name: String, prefix: String) -> String {
        name.hasPrefix(prefix) ? String(name.dropFirst(prefix.count)) : name
    }
}
