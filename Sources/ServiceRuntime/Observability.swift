import Foundation
import Logging
import Metrics
import RPCCore
import RPCHTTP2
import Synchronization

/// One structured log line per call, and the request / error / latency metrics of every call.
public final class RPCCallRecorder: RPCServerObserver {
    let logger: Logger
    private let metrics = Mutex<[MetricKey: CallMetrics]>([:])

    struct MetricKey: Hashable {
        var method: String
        var code: StatusCode
    }

    /// Looking a metric up in the factory costs locks and allocations; a call should not pay that.
    struct CallMetrics {
        var requests: Counter
        var errors: Counter?
        var duration: Metrics.Timer
    }

    public init(logger: Logger) { self.logger = logger }

    public func callFinished(path: String, code: StatusCode, message: String, duration: Duration, peer: String) {
        // Paths of unknown methods come from clients; keep them out of metric labels.
        let method = code == .unimplemented ? "unknown" : path
        let nanoseconds = duration.components.seconds * 1_000_000_000 + duration.components.attoseconds / 1_000_000_000
        if logger.logLevel <= .info || code == .internal || code == .unknown {
            var metadata: Logger.Metadata = [
                "method": "\(path)", "status": "\(code)",
                "duration_ms": "\(String(format: "%.3f", Double(nanoseconds) / 1e6))", "peer": "\(peer)",
            ]
            if !message.isEmpty, code != .ok { metadata["message"] = "\(message.debugDescription)" }
            logger.log(level: code == .internal || code == .unknown ? .error : .info, "rpc", metadata: metadata)
        }
        let callMetrics = metrics.withLock { cache in
            let key = MetricKey(method: method, code: code)
            if let found = cache[key] { return found }
            let made = CallMetrics(
                requests: Counter(label: "rpc_server_requests_total", dimensions: [("method", method), ("code", "\(code)")]),
                errors: code == .ok ? nil
                    : Counter(label: "rpc_server_errors_total", dimensions: [("method", method), ("code", "\(code)")]),
                duration: Metrics.Timer(label: "rpc_server_duration_seconds", dimensions: [("method", method)]))
            cache[key] = made
            return made
        }
        callMetrics.requests.increment()
        callMetrics.errors?.increment()
        callMetrics.duration.recordNanoseconds(nanoseconds)
    }
}
