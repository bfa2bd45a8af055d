import CRMProto
import Foundation
import RPCCore

/// The gateway's user directory as crm-admin uses it: find users and teams by id, email or name.
struct DirectoryClient {
    let endpoint: Endpoint
    var client: Crm_Gateway_V1_GatewayServiceClient { Crm_Gateway_V1_GatewayServiceClient(channel: endpoint.channel) }

    func users(includeInactive: Bool = true, teamID: String = "") async throws -> [Crm_Gateway_V1_User] {
        var users: [Crm_Gateway_V1_User] = []
        var token = ""
        repeat {
            let page = try await client.listUsers(Crm_Gateway_V1_ListUsersRequest(
                teamId: teamID, includeInactive: includeInactive, pageSize: 500, pageToken: token), options: endpoint.options())
            users += page.users
            token = page.nextPageToken
        } while !token.isEmpty
        return users
    }

    func teams() async throws -> [Crm_Gateway_V1_Team] {
        var teams: [Crm_Gateway_V1_Team] = []
        var token = ""
        repeat {
            let page = try await client.listTeams(Crm_Gateway_V1_ListTeamsRequest(pageSize: 500, pageToken: token),
                                                  options: endpoint.options())
            teams += page.teams
            token = page.nextPageToken
        } while !token.isEmpty
        return teams
    }

    /// A user by id or email.
    func user(_ reference: String) async throws -> Crm_Gateway_V1_User {
        if let byID = try? await client.getUser(Crm_Gateway_V1_GetUserRequest(userId: reference), options: endpoint.options()).user {
            return byID
        }
        let lowered = reference.lowercased()
        guard let match = try await users().first(where: { $0.email.lowercased() == lowered }) else {
            throw AdminError("no user with id or email '\(reference)'")
        }
        return match
    }

    /// A team id from an id or a name.
    func teamID(_ reference: String) async throws -> String {
        let teams = try await teams()
        if teams.contains(where: { $0.id == reference }) { return reference }
        let matches = teams.filter { $0.name.lowercased() == reference.lowercased() }
        guard matches.count == 1 else {
            throw AdminError(matches.isEmpty ? "no team with id or name '\(reference)'" : "several teams are named '\(reference)'; use the id")
        }
        return matches[0].id
    }
}

enum RoleName {
    static func parse(_ text: String) throws -> Crm_Gateway_V1_Role {
        switch text.lowercased() {
        case "rep": .rep
        case "manager": .manager
        case "admin": .admin
        default: throw AdminError("role must be rep, manager or admin, not '\(text)'", code: AdminExit.usage)
        }
    }

    static func text(_ role: Crm_Gateway_V1_Role) -> String {
        switch role {
        case .rep: "rep"
        case .manager: "manager"
        case .admin: "admin"
        default: "?"
        }
    }
}

enum Time {
    static func text(_ ms: Int64) -> String {
        guard ms > 0 else { return "-" }
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.string(from: Date(timeIntervalSince1970: Double(ms) / 1000))
    }
}

/// `lookup(reference)` when a reference was given, else "".
func optional(_ reference: String?, _ lookup: (String) async throws -> String) async throws -> String {
    guard let reference, !reference.isEmpty else { return "" }
    return try await lookup(reference)
}
