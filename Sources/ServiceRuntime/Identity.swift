import RPCCore

/// Who is calling, as the gateway forwards it (SUITE.md "Who is calling").
public struct Caller: Sendable, Equatable {
    public enum Role: String, Sendable { case rep, manager, admin }
    public let userID: String
    public let role: Role
    public let team: String

    public init(userID: String, role: Role, team: String) {
        self.userID = userID
        self.role = role
        self.team = team
    }

    /// Metadata keys the gateway sets on every forwarded call.
    public static let userKey = "x-crm-user", roleKey = "x-crm-role", teamKey = "x-crm-team"
    public static let serviceTokenKey = "x-crm-service-token"

    /// Reads the caller from a call's metadata; UNAUTHENTICATED names what is missing or wrong.
    public init(context: ServerContext) throws {
        let metadata = context.requestMetadata
        var problems: [String] = []
        let user = metadata[Self.userKey] ?? ""
        if user.isEmpty { problems.append("\(Self.userKey): required") }
        let roleText = metadata[Self.roleKey] ?? ""
        let role = Role(rawValue: roleText)
        if role == nil { problems.append("\(Self.roleKey): must be rep, manager or admin, got '\(roleText)'") }
        guard problems.isEmpty, let role else {
            throw RPCError(.unauthenticated, problems.joined(separator: "; "))
        }
        self.init(userID: user, role: role, team: metadata[Self.teamKey] ?? "")
    }

    /// The metadata that carries this caller to a service, with the service token.
    public func metadata(serviceToken: String) -> Metadata {
        var metadata = Metadata()
        metadata.add(Self.serviceTokenKey, serviceToken)
        metadata.add(Self.userKey, userID)
        metadata.add(Self.roleKey, role.rawValue)
        metadata.add(Self.teamKey, team)
        return metadata
    }
}

/// Admits a call only with the suite's service token; health checks need none.
public struct ServiceTokenInterceptor: ServerInterceptor {
    let token: [UInt8]
    public init(token: String) { self.token = Array(token.utf8) }

    public func intercept(_ context: ServerContext, method: RPCMethod) async throws {
        if context.path.hasPrefix("/grpc.health.v1.Health/") { return }
        guard let presented = context.requestMetadata[Caller.serviceTokenKey] else {
            throw RPCError(.unauthenticated, "\(Caller.serviceTokenKey): required")
        }
        guard constantTimeEqual(Array(presented.utf8), token) else {
            throw RPCError(.unauthenticated, "\(Caller.serviceTokenKey): not valid")
        }
    }
}

/// Compares without an early exit, so timing does not reveal how much of a token matched.
func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
    var difference = UInt8(a.count == b.count ? 0 : 1)
    for i in 0..<max(a.count, b.count) {
        difference |= (i < a.count ? a[i] : 0) ^ (i < b.count ? b[i] : 0)
    }
    return difference == 0
}

extension Caller {
    /// SUITE.md visibility: a rep sees records they own or collaborate on, a manager the team's,
    /// an admin everything. Records a caller may not see must answer NOT_FOUND.
    public func canSee(ownerID: String, teamID: String, collaborators: [String] = []) -> Bool {
        switch role {
        case .admin: true
        // A manager without a team sees only their own records, never every unteamed one.
        case .manager: (!team.isEmpty && teamID == team) || ownerID == userID || collaborators.contains(userID)
        case .rep: ownerID == userID || collaborators.contains(userID)
        }
    }

    public var isManagerOrAdmin: Bool { role != .rep }

    /// PERMISSION_DENIED unless the caller is a manager or admin.
    public func requireManager(_ action: String) throws {
        guard isManagerOrAdmin else {
            throw RPCError(.permissionDenied, "\(action) needs a manager or admin; \(userID) is a rep")
        }
    }
}
