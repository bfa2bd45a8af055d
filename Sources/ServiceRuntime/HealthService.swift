import CRMProto
import RPCCore
import Synchronization

/// `grpc.health.v1.Health` for one process: "" is the process as a whole, plus one entry per
/// hosted service. `Watch` streams the current status, then every change, until the client leaves.
public final class HealthService: Grpc_Health_V1_HealthHandler {
    public typealias Status = Grpc_Health_V1_HealthCheckResponse.ServingStatus

    private let state = Mutex(State())

    struct State {
        var statuses: [String: Status] = [:]
        var watchers: [Int: (service: String, continuation: AsyncStream<Status>.Continuation)] = [:]
        var nextWatcher = 0
    }

    public init(services: [String]) {
        state.withLock { state in
            state.statuses[""] = .serving
            for service in services { state.statuses[service] = .serving }
        }
    }

    /// Changes a service's status and tells its watchers.
    public func set(_ service: String, _ status: Status) {
        let watchers = state.withLock { state in
            state.statuses[service] = status
            return state.watchers.values.filter { $0.service == service }.map(\.continuation)
        }
        for watcher in watchers { watcher.yield(status) }
    }

    /// Marks everything NOT_SERVING, as a process does when it begins shutting down.
    public func shutdown() {
        let services = state.withLock { Array($0.statuses.keys) }
        for service in services { set(service, .notServing) }
    }

    public func check(_ request: Grpc_Health_V1_HealthCheckRequest, context: ServerContext) async throws
        -> Grpc_Health_V1_HealthCheckResponse {
        guard let status = state.withLock({ $0.statuses[request.service] }) else {
            throw RPCError(.notFound, "unknown service '\(request.service)'")
        }
        return Grpc_Health_V1_HealthCheckResponse(status: status)
    }

    public func watch(_ request: Grpc_Health_V1_HealthCheckRequest,
                      responses: ResponseWriter<Grpc_Health_V1_HealthCheckResponse>,
                      context: ServerContext) async throws {
        let (stream, continuation) = AsyncStream<Status>.makeStream(bufferingPolicy: .bufferingNewest(8))
        let (id, current) = state.withLock { state in
            let id = state.nextWatcher
            state.nextWatcher += 1
            state.watchers[id] = (request.service, continuation)
            return (id, state.statuses[request.service] ?? .serviceUnknown)
        }
        defer { state.withLock { _ = $0.watchers.removeValue(forKey: id) } }
        try await withTaskCancellationHandler {
            try await responses.write(Grpc_Health_V1_HealthCheckResponse(status: current))
            var last = current
            for await status in stream where status != last {
                last = status
                try await responses.write(Grpc_Health_V1_HealthCheckResponse(status: status))
            }
            try Task.checkCancellation()
        } onCancel: {
            continuation.finish()
        }
    }
}
