import ArgumentParser
import CRMProto
import Foundation

/// `crm-admin tokens …`: API tokens of users, through the gateway.
struct Tokens: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Issue, list and revoke users' API tokens (through the gateway).",
        subcommands: [TokensIssue.self, TokensList.self, TokensRevoke.self])
}

struct TokensIssue: AdminCommand {
    static let configuration = CommandConfiguration(
        commandName: "issue",
        abstract: "Issue a token for a user; prints the secret (shown only this once) alone on stdout.")

    @Option(help: "User id or email.") var user: String
    @Option(help: "A name to recognise the token by.") var name: String = "crm-admin"
    @Option(name: .customLong("expires-in-days"), help: "Days until it expires (default: never).") var expiresInDays: Int?
    @OptionGroup var gateway: GatewayAccess

    mutating func execute() async throws -> Int32 {
        let endpoint = try gateway.endpoint()
        defer { Task { [endpoint] in await endpoint.close() } }
        let directory = DirectoryClient(endpoint: endpoint)
        let found = try await rpc("finding the user") { try await directory.user(user) }
        let expires = expiresInDays.map { Int64(Date().timeIntervalSince1970 * 1000) + Int64($0) * 86_400_000 } ?? 0
        let response = try await rpc("issuing the token") {
            try await directory.client.issueToken(
                Crm_Gateway_V1_IssueTokenRequest(requestId: UUID().uuidString, userId: found.id, name: name, expiresAtMs: expires),
                options: endpoint.options())
        }
        Output.line(response.token)
        Output.error("token \(response.info?.id ?? "") for \(found.email)\(expires > 0 ? ", expires \(Time.text(expires))" : "")")
        return AdminExit.ok
    }
}

struct TokensList: AdminCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "A user's tokens (metadata only).")

    @Option(help: "User id or email.") var user: String
    @Flag(name: .customLong("include-revoked"), help: "Also list revoked tokens.") var includeRevoked = false
    @OptionGroup var gateway: GatewayAccess

    mutating func execute() async throws -> Int32 {
        let endpoint = try gateway.endpoint()
        defer { Task { [endpoint] in await endpoint.close() } }
        let directory = DirectoryClient(endpoint: endpoint)
        let found = try await rpc("finding the user") { try await directory.user(user) }
        let tokens = try await rpc("listing tokens") {
            try await directory.client.listTokens(Crm_Gateway_V1_ListTokensRequest(userId: found.id, includeRevoked: includeRevoked),
                                                  options: endpoint.options()).tokens
        }
        Output.table(["ID", "NAME", "PREFIX", "CREATED", "EXPIRES", "LAST USED", "REVOKED"], tokens.map {
            [$0.id, $0.name, $0.prefix, Time.text($0.createdAtMs), Time.text($0.expiresAtMs), Time.text($0.lastUsedAtMs),
             $0.revoked ? Time.text($0.revokedAtMs) : "no"]
        }).forEach(Output.line)
        return AdminExit.ok
    }
}

struct TokensRevoke: AdminCommand {
    static let configuration = CommandConfiguration(commandName: "revoke", abstract: "Revoke a token: it stops working at once.")

    @Argument(help: "Token id (from `tokens list`).") var tokenID: String
    @Option(help: "Why (recorded).") var reason: String = ""
    @OptionGroup var gateway: GatewayAccess

    mutating func execute() async throws -> Int32 {
        let endpoint = try gateway.endpoint()
        defer { Task { [endpoint] in await endpoint.close() } }
        let info = try await rpc("revoking \(tokenID)") {
            try await Crm_Gateway_V1_GatewayServiceClient(channel: endpoint.channel)
                .revokeToken(Crm_Gateway_V1_RevokeTokenRequest(tokenId: tokenID, reason: reason), options: endpoint.options()).info
        }
        Output.line("revoked \(info?.id ?? tokenID) of \(info?.userId ?? "?")")
        return AdminExit.ok
    }
}
