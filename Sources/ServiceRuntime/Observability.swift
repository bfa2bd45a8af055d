import Foundation
import Logging
import Metrics
import RPCCore
import RPCHTTP2

/// One structured log line per call, and the request / error / latency metrics of every call.
public struct RPCCallRecorder: RPCServerObserver {
    let logger: Logger

    public init(logger: Logger) { self.logger = logger }

    public func callFinished(path: String, code: StatusCode, message: String, duration: Duration, peer: String) {
        // Paths of unknown methods come from clients; keep them out of metric labels.
        let method = code == .unimplemented ? "unknown" : path
        let milliseconds = Double(duration.components.seconds) * 1000 + Double(duration.components.attoseconds) / 1e15
        var metadata: Logger.Metadata = [
            "method": "\(path)", "status": "\(code)", "duration_ms": "\(String(format: "%.3f", milliseconds))",
            "peer": "\(peer)",
        ]
        if !message.isEmpty, code != .ok { metadata["message"] = "\(message)" }
        logger.log(level: code == .internal || code == .unknown ? .error : .info, "rpc", metadata: metadata)

        Counter(label: "rpc_server_requests_total", dimensions: [("method", method), ("code", "\(code)")]).increment()
        if code != .ok {
            Counter(label: "rpc_server_errors_total", dimensions: [("method", method), ("code", "\(code)")]).increment()
        }
        Timer(label: "rpc_server_duration_seconds", dimensions: [("method", method)])
            .recordNanoseconds(Int64(milliseconds * 1_000_000))
    }
}
