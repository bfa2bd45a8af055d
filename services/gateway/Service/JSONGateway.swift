import CRMProto
import Foundation
import ProtoJSON
import RPCCore
import RPCHTTP2

/// JSON for people with curl (issue 8): a POST with `content-type: application/json` on a method's
/// path is transcoded (proto3 JSON mapping) to the request message, run exactly like the gRPC call
/// (same interceptors, so the same bearer authentication; same pass-through or GatewayService
/// method), and answered with the response as JSON, or an error as `{"code": …, "message": …}`
/// with an HTTP status mapped from the gRPC code. Unary methods only.
struct JSONGateway: Sendable {
    let authenticator: Authenticator
    static let transcoder = ProtoJSONTranscoder(CRMProtoDescriptors.descriptors)

    func handle(_ request: PlainRequest) async -> PlainResponse {
        let mediaType = request.contentType.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() } ?? ""
        guard mediaType == "application/json" else {
            return Self.error(RPCError(.invalidArgument, "content-type must be application/grpc or application/json"), status: 415)
        }
        guard let method = Self.transcoder.descriptors.methods[request.path] else {
            return Self.error(RPCError(.notFound, "no method at \(request.path)"), status: 404)
        }
        guard method.isUnary else {
            return Self.error(RPCError(.unimplemented, "\(request.path) is a streaming method; JSON calls support unary methods only (use gRPC)"))
        }
        // Authenticate before looking at the body, so a caller without a valid token learns nothing else.
        if !request.path.hasPrefix("/grpc.health.v1.Health/") {
            do {
                _ = try await authenticator.authenticate(request.metadata)
            } catch {
                return Self.error((error as? RPCError) ?? RPCError(.unauthenticated, "invalid credentials"))
            }
        }
        let message: [UInt8]
        do {
            message = try Self.transcoder.wireBytes(fromJSON: request.body, messageType: method.inputType)
        } catch {
            return Self.error(RPCError(.invalidArgument, "request \(method.inputType): \(error)"))
        }
        let result = await request.router.callUnary(path: request.path, request: message, metadata: request.metadata,
                                                    deadline: request.deadline, peer: request.peer)
        guard let response = result.response else {
            return Self.error(result.error ?? RPCError(.internal, "no response"))
        }
        do {
            let body = try Self.transcoder.json(fromWire: response, messageType: method.outputType)
            return PlainResponse(status: 200, headers: [("content-type", "application/json"), ("grpc-status", "0")], body: body)
        } catch {
            return Self.error(RPCError(.internal, "response \(method.outputType) could not be written as JSON: \(error)"))
        }
    }

    static func error(_ error: RPCError, status: Int? = nil) -> PlainResponse {
        let body = "{\"code\":\(ProtoJSONTranscoder.quote(error.code.description)),\"message\":\(ProtoJSONTranscoder.quote(error.message))}"
        var headers = [("content-type", "application/json"), ("grpc-status", "\(error.code.rawValue)")]
        if !error.message.isEmpty { headers.append(("grpc-message", GRPCWire.percentEncode(error.message))) }
        return PlainResponse(status: status ?? httpStatus(error.code), headers: headers, body: Array(body.utf8))
    }

    /// The HTTP status of a gRPC code, as grpc-gateway maps them.
    static func httpStatus(_ code: StatusCode) -> Int {
        switch code {
        case .ok: 200
        case .invalidArgument, .failedPrecondition, .outOfRange: 400
        case .unauthenticated: 401
        case .permissionDenied: 403
        case .notFound: 404
        case .alreadyExists, .aborted: 409
        case .resourceExhausted: 429
        case .unimplemented: 501
        case .unavailable: 503
        case .deadlineExceeded: 504
        default: 500
        }
    }
}
