import ArgumentParser
import Foundation

/// The flags every process of the suite takes (SUITE.md "Processes, ports, flags"). Each can also
/// come from the environment (`CRM_LISTEN`, `CRM_DB`, …); a flag wins over the environment.
public struct SuiteOptions: ParsableArguments, Sendable {
    @Option(help: "HOST:PORT to listen on; port 0 picks a free one (env CRM_LISTEN).")
    public var listen: String?

    @Option(help: "This process's SQLite file (env CRM_DB; default data/<name>.sqlite).")
    public var db: String?

    @Option(name: .customLong("service-token"), help: "Shared secret services require in x-crm-service-token (env CRM_SERVICE_TOKEN).")
    public var serviceToken: String?

    @Option(name: .customLong("leads-addr"), help: "crm-leads address (env CRM_LEADS_ADDR; default 127.0.0.1:7401).")
    public var leadsAddr: String?
    @Option(name: .customLong("customers-addr"), help: "crm-customers address (env CRM_CUSTOMERS_ADDR; default 127.0.0.1:7402).")
    public var customersAddr: String?
    @Option(name: .customLong("opportunities-addr"), help: "crm-opportunities address (env CRM_OPPORTUNITIES_ADDR; default 127.0.0.1:7403).")
    public var opportunitiesAddr: String?
    @Option(name: .customLong("tickets-addr"), help: "crm-tickets address (env CRM_TICKETS_ADDR; default 127.0.0.1:7404).")
    public var ticketsAddr: String?
    @Option(name: .customLong("forecast-addr"), help: "crm-forecast address (env CRM_FORECAST_ADDR; default 127.0.0.1:7405).")
    public var forecastAddr: String?
    @Option(name: .customLong("gateway-addr"), help: "crm-gateway address (env CRM_GATEWAY_ADDR; default 127.0.0.1:7400).")
    public var gatewayAddr: String?

    @Option(name: .customLong("max-receive-message-size"), help: "Largest request message in bytes (env CRM_MAX_RECEIVE_MESSAGE_SIZE; default 4194304).")
    public var maxReceiveMessageSize: Int?

    @Option(name: .customLong("metrics-listen"), help: "HOST:PORT serving Prometheus text at GET /metrics over HTTP/1.1 (env CRM_METRICS_LISTEN; off by default).")
    public var metricsListen: String?

    @Option(name: .customLong("clock-file"), help: "For tests: read the current time (UTC ms) from this file instead of the system clock (env CRM_CLOCK_FILE).")
    public var clockFile: String?

    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical (env CRM_LOG_LEVEL; default info).")
    public var logLevel: String?

    public init() {}

    /// The default addresses of the suite's processes.
    public static let defaultAddresses: [String: String] = [
        "gateway": "127.0.0.1:7400", "leads": "127.0.0.1:7401", "customers": "127.0.0.1:7402",
        "opportunities": "127.0.0.1:7403", "tickets": "127.0.0.1:7404", "forecast": "127.0.0.1:7405",
    ]

    /// Flags, then environment, then defaults, for the process called `name` (e.g. "leads").
    public func resolve(name: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> ResolvedOptions {
        func pick(_ flag: String?, _ env: String) -> String? {
            if let flag, !flag.isEmpty { return flag }
            if let value = environment[env], !value.isEmpty { return value }
            return nil
        }
        let listenText = pick(listen, "CRM_LISTEN") ?? Self.defaultAddresses[name] ?? "127.0.0.1:0"
        let listen = try HostPort(parsing: listenText, option: "--listen")
        var peers: [String: HostPort] = [:]
        for (peer, flag) in [("leads", leadsAddr), ("customers", customersAddr), ("opportunities", opportunitiesAddr),
                             ("tickets", ticketsAddr), ("forecast", forecastAddr), ("gateway", gatewayAddr)] {
            let text = pick(flag, "CRM_\(peer.uppercased())_ADDR") ?? Self.defaultAddresses[peer]!
            peers[peer] = try HostPort(parsing: text, option: "--\(peer)-addr")
        }
        let maxSizeText = pick(maxReceiveMessageSize.map(String.init), "CRM_MAX_RECEIVE_MESSAGE_SIZE")
        let maxSize = try maxSizeText.map { text -> Int in
            guard let n = Int(text), n > 0 else {
                throw ValidationError("--max-receive-message-size: '\(text)' is not a positive number of bytes")
            }
            return n
        } ?? 4 * 1024 * 1024
        return ResolvedOptions(
            name: name, listen: listen,
            databasePath: pick(db, "CRM_DB") ?? "data/\(name).sqlite",
            serviceToken: pick(serviceToken, "CRM_SERVICE_TOKEN"),
            peers: peers, maxReceiveMessageSize: maxSize,
            metricsListen: try pick(metricsListen, "CRM_METRICS_LISTEN").map { try HostPort(parsing: $0, option: "--metrics-listen") },
            logLevel: pick(logLevel, "CRM_LOG_LEVEL") ?? "info",
            clockFile: pick(clockFile, "CRM_CLOCK_FILE"))
    }
}

public struct HostPort: Sendable, Equatable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    public init(parsing text: String, option: String) throws {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
              (0...65535).contains(port) else {
            throw ValidationError("\(option): '\(text)' is not HOST:PORT")
        }
        var host = String(text[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else { throw ValidationError("\(option): '\(text)' has no host") }
        self.init(host: host, port: port)
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

/// Options after flags, environment and defaults were combined.
public struct ResolvedOptions: Sendable {
    public var name: String
    public var listen: HostPort
    public var databasePath: String
    public var serviceToken: String?
    public var peers: [String: HostPort]
    public var maxReceiveMessageSize: Int
    public var metricsListen: HostPort?
    public var logLevel: String
    public var clockFile: String?

    /// The clock time-dependent rules use: the system clock, or the test clock file.
    public var clock: any WallClock {
        if let clockFile { return FileClock(path: clockFile) }
        return SystemClock()
    }
}
