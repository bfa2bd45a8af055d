/// gRPC status codes, numbered as the gRPC spec numbers them.
public enum StatusCode: Int, Sendable, CaseIterable, CustomStringConvertible {
    case ok = 0
    case cancelled = 1
    case unknown = 2
    case invalidArgument = 3
    case deadlineExceeded = 4
    case notFound = 5
    case alreadyExists = 6
    case permissionDenied = 7
    case resourceExhausted = 8
    case failedPrecondition = 9
    case aborted = 10
    case outOfRange = 11
    case unimplemented = 12
    case `internal` = 13
    case unavailable = 14
    case dataLoss = 15
    case unauthenticated = 16

    /// The spec's upper-snake name, as logs and metrics label it.
    public var description: String {
        switch self {
        case .ok: "OK"
        case .cancelled: "CANCELLED"
        case .unknown: "UNKNOWN"
        case .invalidArgument: "INVALID_ARGUMENT"
        case .deadlineExceeded: "DEADLINE_EXCEEDED"
        case .notFound: "NOT_FOUND"
        case .alreadyExists: "ALREADY_EXISTS"
        case .permissionDenied: "PERMISSION_DENIED"
        case .resourceExhausted: "RESOURCE_EXHAUSTED"
        case .failedPrecondition: "FAILED_PRECONDITION"
        case .aborted: "ABORTED"
        case .outOfRange: "OUT_OF_RANGE"
        case .unimplemented: "UNIMPLEMENTED"
        case .internal: "INTERNAL"
        case .unavailable: "UNAVAILABLE"
        case .dataLoss: "DATA_LOSS"
        case .unauthenticated: "UNAUTHENTICATED"
        }
    }

    /// A `grpc-status` value from the wire; unknown numbers map to UNKNOWN as the spec says.
    public init(wireValue: String?) {
        self = wireValue.flatMap { Int($0) }.flatMap(StatusCode.init(rawValue:)) ?? .unknown
    }
}

/// A call's failure: a status other than OK, its message, and any trailing metadata.
public struct RPCError: Error, Sendable, Equatable, CustomStringConvertible {
    public var code: StatusCode
    public var message: String
    public var trailers: Metadata

    public init(_ code: StatusCode, _ message: String = "", trailers: Metadata = Metadata()) {
        self.code = code
        self.message = message
        self.trailers = trailers
    }

    public var description: String { message.isEmpty ? "\(code)" : "\(code): \(message)" }

    public static func invalidArgument(_ m: String) -> RPCError { RPCError(.invalidArgument, m) }
    public static func notFound(_ m: String) -> RPCError { RPCError(.notFound, m) }
    public static func alreadyExists(_ m: String) -> RPCError { RPCError(.alreadyExists, m) }
    public static func failedPrecondition(_ m: String) -> RPCError { RPCError(.failedPrecondition, m) }
    public static func permissionDenied(_ m: String) -> RPCError { RPCError(.permissionDenied, m) }
    public static func unauthenticated(_ m: String) -> RPCError { RPCError(.unauthenticated, m) }
    public static func aborted(_ m: String) -> RPCError { RPCError(.aborted, m) }
    public static func unavailable(_ m: String) -> RPCError { RPCError(.unavailable, m) }
    public static func `internal`(_ m: String) -> RPCError { RPCError(.internal, m) }
}
