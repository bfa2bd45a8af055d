import CRMProto
import GRDB

/// Where a lead goes and why; "" owner = the pool.
struct RoutingDecision: Sendable {
    var kind: Crm_Leads_V1_AssignmentKind
    var ownerID: String
    var teamID: String
    var ruleID: String
    var reason: String

    var toPool: Bool { ownerID.isEmpty }

    static func pool(_ reason: String, ruleID: String = "") -> RoutingDecision {
        RoutingDecision(kind: .intakePool, ownerID: "", teamID: "", ruleID: ruleID, reason: reason)
    }
}

/// What routing by rules needs, gathered before the write transaction (the directory is remote).
struct RoutingInputs: Sendable {
    var rules: [Crm_Leads_V1_AssignmentRule]
    /// nil when no rule needs it, or when it could not be read (`directoryProblem` says why).
    var directory: DirectorySnapshot?
    var directoryProblem: String?
}

/// Pool and assignment: the ordered rules decide; the first rule whose criteria all hold routes the
/// lead. Round-robin goes to the next eligible candidate after the rule's cursor (fair over time);
/// least-loaded to the eligible candidate with the fewest open unactivated leads. Eligible = active,
/// not out of office, below lead capacity.
enum Router {
    static func byRules(_ db: Database, source: Crm_Leads_V1_LeadSource, region: String, industry: String,
                        inputs: RoutingInputs, now: Int64) throws -> RoutingDecision {
        let enabled = inputs.rules.filter(\.enabled)
        guard !enabled.isEmpty else { return .pool("no assignment rules: lead goes to the pool") }
        guard let rule = enabled.first(where: {
            AssignmentRules.matches($0, source: source, region: region, industry: industry)
        }) else {
            return .pool("no assignment rule matched")
        }
        let label = "rule '\(rule.name)'"
        switch rule.strategy {
        case .roundRobin, .leastLoaded:
            guard let directory = inputs.directory else {
                return .pool("\(label): \(inputs.directoryProblem ?? "user directory unavailable"); left in the pool",
                             ruleID: rule.id)
            }
            let candidates = candidates(for: rule, in: directory)
            let pick = rule.strategy == .roundRobin
                ? try roundRobin(db, rule: rule, candidates: candidates, now: now)
                : try leastLoaded(db, candidates: candidates, now: now)
            guard let user = pick else {
                return .pool("\(label): no eligible assignee (inactive, out of office or at capacity); left in the pool",
                             ruleID: rule.id)
            }
            let team = user.teamID.isEmpty ? rule.teamId : user.teamID
            let how = rule.strategy == .roundRobin ? "round-robin" : "least-loaded"
            return RoutingDecision(kind: .assignedByRule, ownerID: user.id, teamID: team, ruleID: rule.id,
                                   reason: "\(label): \(how)")
        default:
            return .pool("\(label): pool", ruleID: rule.id)
        }
    }

    /// The listed users, or the team's reps when none are listed; in id order.
    static func candidates(for rule: Crm_Leads_V1_AssignmentRule, in directory: DirectorySnapshot) -> [DirectoryUser] {
        if !rule.userIds.isEmpty {
            var seen = Set<String>()
            return rule.userIds.compactMap { directory.user($0) }.filter { seen.insert($0.id).inserted }
                .sorted { $0.id < $1.id }
        }
        return directory.reps(inTeam: rule.teamId)
    }

    /// Open unactivated leads a user holds: what capacity and the claim cap count.
    static func openUnactivated(_ db: Database, userID: String) throws -> Int {
        try Int.fetchOne(db.cachedStatement(sql: "SELECT COUNT(*) FROM leads WHERE owner_id = ? AND status = 2"),
                         arguments: [userID]) ?? 0
    }

    static func hasCapacity(_ db: Database, _ user: DirectoryUser) throws -> Bool {
        if user.leadCapacity <= 0 { return true }
        return try openUnactivated(db, userID: user.id) < Int(user.leadCapacity)
    }

    private static func roundRobin(_ db: Database, rule: Crm_Leads_V1_AssignmentRule,
                                   candidates: [DirectoryUser], now: Int64) throws -> DirectoryUser? {
        guard !candidates.isEmpty else { return nil }
        let last = try String.fetchOne(db, sql: "SELECT last_user_id FROM rule_cursors WHERE rule_id = ?",
                                       arguments: [rule.id]) ?? ""
        let start = candidates.firstIndex { $0.id > last } ?? 0
        for offset in 0..<candidates.count {
            let user = candidates[(start + offset) % candidates.count]
            guard user.isAvailable(now: now), try hasCapacity(db, user) else { continue }
            try db.execute(sql: """
                INSERT INTO rule_cursors (rule_id, last_user_id) VALUES (?, ?)
                ON CONFLICT (rule_id) DO UPDATE SET last_user_id = excluded.last_user_id
                """, arguments: [rule.id, user.id])
            return user
        }
        return nil
    }

    private static func leastLoaded(_ db: Database, candidates: [DirectoryUser], now: Int64) throws -> DirectoryUser? {
        var best: (user: DirectoryUser, load: Int)?
        for user in candidates where user.isAvailable(now: now) {
            let load = try openUnactivated(db, userID: user.id)
            if user.leadCapacity > 0 && load >= Int(user.leadCapacity) { continue }
            if best == nil || load < best!.load { best = (user, load) }
        }
        return best?.user
    }
}
