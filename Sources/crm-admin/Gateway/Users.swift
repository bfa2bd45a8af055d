import ArgumentParser
import CRMProto
import Foundation

/// `crm-admin users …`: the gateway's directory of users and teams.
struct Users: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create and list users and teams, deactivate users (through the gateway, as an admin).",
        subcommands: [UsersCreate.self, UsersList.self, UsersDeactivate.self, TeamsCreate.self, TeamsList.self])
}

struct UsersCreate: AdminCommand {
    static let configuration = CommandConfiguration(
        commandName: "create", abstract: "Create a user (idempotent by email: repeating it returns the same user).")

    @Option(help: "Display name.") var name: String
    @Option(help: "E-mail (unique).") var email: String
    @Option(help: "rep, manager or admin.") var role: String = "rep"
    @Option(help: "Team id or name.") var team: String?
    @Option(help: "Manager's user id or email.") var manager: String?
    @Option(help: "Max open unactivated leads routed to the user (0 = no limit).") var capacity: Int32 = 0
    @OptionGroup var gateway: GatewayAccess

    mutating func execute() async throws -> Int32 {
        let endpoint = try gateway.endpoint()
        defer { Task { [endpoint] in await endpoint.close() } }
        let directory = DirectoryClient(endpoint: endpoint)
        let request = try await rpc("creating the user") { () -> Crm_Gateway_V1_CreateUserRequest in
            Crm_Gateway_V1_CreateUserRequest(
                requestId: "crm-admin-user:\(email.lowercased())", name: name, email: email, role: try RoleName.parse(role),
                teamId: try await optional(team) { try await directory.teamID($0) },
                managerId: try await optional(manager) { try await directory.user($0).id }, leadCapacity: capacity)
        }
        let response = try await rpc("creating the user") { try await directory.client.createUser(request, options: endpoint.options()) }
        let user = response.user ?? Crm_Gateway_V1_User()
        Output.line(user.id)
        Output.error("\(response.replayed ? "already there" : "created"): \(user.name) <\(user.email)> \(RoleName.text(user.role))\(user.teamId.isEmpty ? "" : " in \(user.teamId)")")
        return AdminExit.ok
    }
}

struct UsersList: AdminCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List users.")

    @Option(help: "Only this team (id or name).") var team: String?
    @Flag(help: "Include deactivated users.") var inactive = false
    @OptionGroup var gateway: GatewayAccess

    mutating func execute() async throws -> Int32 {
        let endpoint = try gateway.endpoint()
        defer { Task { [endpoint] in await endpoint.close() } }
        let directory = DirectoryClient(endpoint: endpoint)
        let users = try await rpc("listing users") {
            try await directory.users(includeInactive: inactive, teamID: try await optional(team) { try await directory.teamID($0) })
        }
        Output.table(["ID", "NAME", "EMAIL", "ROLE", "TEAM", "ACTIVE"], users.map {
            [$0.id, $0.name, $0.email, RoleName.text($0.role), $0.teamId, $0.active ? (($0.outOfOffice) ? "out of office" : "yes") : "no"]
        }).forEach(Output.line)
        return AdminExit.ok
    }
}

struct UsersDeactivate: AdminCommand {
    static let configuration = CommandConfiguration(
        commandName: "deactivate", abstract: "Deactivate a user: every token stops at once, no new leads; their records stay.")

    @Argument(help: "User id or email.") var user: String
    @Option(help: "Why (recorded).") var reason: String
    @OptionGroup var gateway: GatewayAccess

    mutating func execute() async throws -> Int32 {
        let endpoint = try gateway.endpoint()
        defer { Task { [endpoint] in await endpoint.close() } }
        let directory = DirectoryClient(endpoint: endpoint)
        let found = try await rpc("finding the user") { try await directory.user(user) }
        let response = try await rpc("deactivating \(found.id)") {
            try await directory.client.deactivateUser(
                Crm_Gateway_V1_DeactivateUserRequest(userId: found.id, version: found.version, reason: reason), options: endpoint.options())
        }
        Output.line("deactivated \(found.id) (\(found.email)); \(response.revokedTokens) token(s) revoked")
        return AdminExit.ok
    }
}

struct TeamsCreate: AdminCommand {
    static let configuration = CommandConfiguration(
        commandName: "create-team", abstract: "Create a team (idempotent by name).")

    @Option(help: "Team name.") var name: String
    @Option(help: "Manager's user id or email.") var manager: String?
    @OptionGroup var gateway: GatewayAccess

    mutating func execute() async throws -> Int32 {
        let endpoint = try gateway.endpoint()
        defer { Task { [endpoint] in await endpoint.close() } }
        let directory = DirectoryClient(endpoint: endpoint)
        let managerID = try await rpc("finding the manager") { try await optional(manager) { try await directory.user($0).id } }
        let response = try await rpc("creating the team") {
            try await directory.client.createTeam(
                Crm_Gateway_V1_CreateTeamRequest(requestId: "crm-admin-team:\(name.lowercased())", name: name, managerId: managerID),
                options: endpoint.options())
        }
        Output.line(response.team?.id ?? "")
        Output.error("\(response.replayed ? "already there" : "created"): team \(name)")
        return AdminExit.ok
    }
}

struct TeamsList: AdminCommand {
    static let configuration = CommandConfiguration(commandName: "teams", abstract: "List teams.")
    @OptionGroup var gateway: GatewayAccess

    mutating func execute() async throws -> Int32 {
        let endpoint = try gateway.endpoint()
        defer { Task { [endpoint] in await endpoint.close() } }
        let teams = try await rpc("listing teams") { try await DirectoryClient(endpoint: endpoint).teams() }
        Output.table(["ID", "NAME", "MANAGER", "MEMBERS"], teams.map { [$0.id, $0.name, $0.managerId, String($0.memberCount)] })
            .forEach(Output.line)
        return AdminExit.ok
    }
}
