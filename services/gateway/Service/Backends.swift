import CRMProto
import Logging
import NIOCore
import NIOPosix
import RPCCore
import RPCHTTP2
import ServiceRuntime
import Synchronization

/// A service behind the gateway: which peer address it is, which proto package it owns.
enum BackendID: String, CaseIterable, Sendable {
    case leads, customers, opportunities, tickets, forecast

    var proto: Crm_Gateway_V1_Backend {
        switch self {
        case .leads: .leads
        case .customers: .customers
        case .opportunities: .opportunities
        case .tickets: .tickets
        case .forecast: .forecast
        }
    }

    /// The fully qualified service the backend hosts (also its entry in the gateway's health).
    var serviceName: String {
        switch self {
        case .leads: Crm_Leads_V1_LeadService.name
        case .customers: Crm_Customers_V1_CustomerService.name
        case .opportunities: Crm_Opportunities_V1_OpportunityService.name
        case .tickets: Crm_Tickets_V1_TicketService.name
        case .forecast: Crm_Forecast_V1_ForecastService.name
        }
    }

    /// The backend owning service `crm.<name>.v1.<Service>` (of a path's `Router.split`); nil for any
    /// other service (including crm.events.v1, which is service-to-service only, and the gateway's own).
    static func owning(service: Substring) -> BackendID? {
        // Byte prefixes, not a split into strings: this runs on every forwarded call.
        let bytes = service.utf8
        for (prefix, backend) in packagePrefixes where bytes.starts(with: prefix.utf8) {
            let name = bytes.dropFirst(prefix.utf8.count)
            return !name.isEmpty && !name.contains(UInt8(ascii: ".")) ? backend : nil
        }
        return nil
    }

    private static let packagePrefixes = allCases.map { ("crm.\($0.rawValue).v1.", $0) }
}

/// Channels to the backends and what the gateway last saw of their health.
///
/// Calls use one channel per backend, which reconnects by itself with backoff. Health probes use
/// channels of their own, so probing a dead backend never pushes the calls' channel into a long
/// backoff. When calls found a backend unreachable and a probe then finds it back, the calls get a
/// fresh channel at once instead of waiting out the old one's backoff (up to 5 s); the old channel
/// is retired, not closed, so a call that reconnected on it in the meantime still finishes.
final class Backends: Sendable {
    let addresses: [BackendID: HostPort]
    private let channels: Mutex<[BackendID: HTTP2Channel]>
    private let probeChannels: [BackendID: HTTP2Channel]
    private let maxReceiveMessageSize: Int
    private let group: MultiThreadedEventLoopGroup
    private let clock: any WallClock
    private let health: HealthService
    private let statuses: Mutex<[BackendID: Crm_Gateway_V1_BackendStatus]>
    /// Backends whose calls failed to connect since they last succeeded.
    private let callsFailing = Mutex<Set<BackendID>>([])
    /// Replaced call channels, closed a while after their replacement (or at shutdown).
    private let retired = Mutex<(channels: [ObjectIdentifier: HTTP2Channel], closed: Bool)>(([:], false))
    static let retiredGrace: Duration = .seconds(60)

    init(options: ResolvedOptions, health: HealthService, clock: any WallClock) {
        group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        var addresses: [BackendID: HostPort] = [:]
        var channels: [BackendID: HTTP2Channel] = [:]
        var probeChannels: [BackendID: HTTP2Channel] = [:]
        var statuses: [BackendID: Crm_Gateway_V1_BackendStatus] = [:]
        for backend in BackendID.allCases {
            let address = options.peers[backend.rawValue] ?? HostPort(host: "127.0.0.1", port: 0)
            addresses[backend] = address
            channels[backend] = HTTP2Channel(host: address.host, port: address.port,
                                             maxReceiveMessageSize: options.maxReceiveMessageSize, group: group)
            probeChannels[backend] = HTTP2Channel(host: address.host, port: address.port, group: group)
            statuses[backend] = Crm_Gateway_V1_BackendStatus(backend: backend.proto, address: address.description,
                                                             health: .unknown)
            health.set(backend.serviceName, .unknown)
        }
        self.addresses = addresses
        self.channels = Mutex(channels)
        self.probeChannels = probeChannels
        maxReceiveMessageSize = options.maxReceiveMessageSize
        self.statuses = Mutex(statuses)
        self.clock = clock
        self.health = health
    }

    /// The channel calls to `backend` use.
    func channel(_ backend: BackendID) -> HTTP2Channel { channels.withLock { $0[backend]! } }

    /// Asks every backend's grpc.health.v1 (no token needed) in parallel and records the answers.
    @discardableResult
    func probeAll(timeout: Duration = .seconds(1)) async -> [Crm_Gateway_V1_BackendStatus] {
        await withTaskGroup(of: Crm_Gateway_V1_BackendStatus.self) { group in
            for backend in BackendID.allCases {
                group.addTask { await self.probe(backend, timeout: timeout) }
            }
            var results: [Crm_Gateway_V1_BackendStatus] = []
            for await status in group { results.append(status) }
            return results.sorted { $0.backend.rawValue < $1.backend.rawValue }
        }
    }

    func probe(_ backend: BackendID, timeout: Duration) async -> Crm_Gateway_V1_BackendStatus {
        let client = Grpc_Health_V1_HealthClient(channel: probeChannels[backend]!)
        let started = ContinuousClock.now
        var status = Crm_Gateway_V1_BackendStatus(backend: backend.proto, address: addresses[backend]!.description)
        do {
            let answer = try await client.check(Grpc_Health_V1_HealthCheckRequest(service: ""),
                                                options: CallOptions(timeout: timeout))
            status.health = answer.status == .serving ? .serving : .notServing
            if answer.status != .serving { status.lastError = "health answered \(answer.status)" }
        } catch let error as RPCError {
            status.health = error.code == .unavailable || error.code == .deadlineExceeded ? .unreachable : .notServing
            status.lastError = error.description
        } catch {
            status.health = .unreachable
            status.lastError = "\(error)"
        }
        let elapsed = ContinuousClock.now - started
        status.latencyMs = elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000
        status.lastCheckedAtMs = clock.nowMs()
        if status.health != .unreachable, callsFailing.withLock({ $0.remove(backend) != nil }) { renewChannel(backend) }
        record(backend, status)
        return status
    }

    /// Gives calls to a backend that is reachable again a channel without a pending backoff.
    private func renewChannel(_ backend: BackendID) {
        let address = addresses[backend]!
        let fresh = HTTP2Channel(host: address.host, port: address.port, maxReceiveMessageSize: maxReceiveMessageSize, group: group)
        let old = channels.withLock { channels in
            defer { channels[backend] = fresh }
            return channels[backend]!
        }
        let id = ObjectIdentifier(old)
        let accepted = retired.withLock { retired -> Bool in
            guard !retired.closed else { return false }
            retired.channels[id] = old
            return true
        }
        guard accepted else { return }
        Task {
            try? await Task.sleep(for: Self.retiredGrace)
            if let channel = self.retired.withLock({ $0.channels.removeValue(forKey: id) }) { await channel.close() }
        }
    }

    /// A call reached the backend: its channel works, nothing to renew.
    func markReachable(_ backend: BackendID) {
        callsFailing.withLock { _ = $0.remove(backend) }
    }

    /// A pass-through call found the backend unreachable: show it at once rather than at the next probe.
    func markUnreachable(_ backend: BackendID, _ error: RPCError) {
        callsFailing.withLock { _ = $0.insert(backend) }
        var status = statuses.withLock { $0[backend]! }
        status.health = .unreachable
        status.lastError = error.description
        status.lastCheckedAtMs = clock.nowMs()
        record(backend, status)
    }

    private func record(_ backend: BackendID, _ status: Crm_Gateway_V1_BackendStatus) {
        statuses.withLock { $0[backend] = status }
        health.set(backend.serviceName, status.health == .serving ? .serving : .notServing)
    }

    /// The background job: probe every `interval` until the gateway shuts down.
    func monitor(every interval: Duration) -> @Sendable () async -> Void {
        {
            while !Task.isCancelled {
                await self.probeAll()
                try? await Task.sleep(for: interval)
            }
        }
    }

    func close() async {
        let retiredChannels = retired.withLock { retired in
            retired.closed = true
            defer { retired.channels = [:] }
            return Array(retired.channels.values)
        }
        for channel in channels.withLock({ Array($0.values) }) + Array(probeChannels.values) + retiredChannels {
            await channel.close()
        }
        try? await group.shutdownGracefully()
    }
}
