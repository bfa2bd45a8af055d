import CRMProto
import Foundation
import GRDB
import RPCCore
import ServiceRuntime

/// The ordered assignment rules (pool and assignment): stored as a list replaced atomically, with a
/// version for optimistic concurrency.
enum AssignmentRules {
    static func load(_ db: Database) throws -> (rules: [Crm_Leads_V1_AssignmentRule], version: Int64) {
        let rules = try Row.fetchAll(db.cachedStatement(sql: "SELECT rule FROM assignment_rules ORDER BY position"))
            .map { row in try Crm_Leads_V1_AssignmentRule(serializedBytes: Array(row["rule"] as Data)) }
        let version = try Int64.fetchOne(db.cachedStatement(sql: "SELECT version FROM rule_set WHERE id = 1")) ?? 1
        return (rules, version)
    }

    /// Replaces the list; ids of new rules are assigned. Cursors of removed rules are dropped.
    static func replace(_ db: Database, with rules: [Crm_Leads_V1_AssignmentRule], version: Int64) throws {
        try db.execute(sql: "DELETE FROM assignment_rules")
        for (position, rule) in rules.enumerated() {
            try db.execute(sql: "INSERT INTO assignment_rules (position, id, rule) VALUES (?, ?, ?)",
                           arguments: [position, rule.id, Data(rule.serializedBytes())])
        }
        try db.execute(sql: "UPDATE rule_set SET version = ? WHERE id = 1", arguments: [version])
        let ids = Set(rules.map(\.id))
        for cursor in try String.fetchAll(db, sql: "SELECT rule_id FROM rule_cursors") where !ids.contains(cursor) {
            try db.execute(sql: "DELETE FROM rule_cursors WHERE rule_id = ?", arguments: [cursor])
        }
    }

    /// Checks a new rule list; INVALID_ARGUMENT names each bad field as `rules[i].field`.
    static func validate(_ rules: [Crm_Leads_V1_AssignmentRule], nowMs: Int64) throws -> [Crm_Leads_V1_AssignmentRule] {
        var errors = FieldErrors()
        if rules.count > 200 { errors.add("rules", "at most 200 rules, got \(rules.count)") }
        var seen = Set<String>()
        var out: [Crm_Leads_V1_AssignmentRule] = []
        for (index, original) in rules.enumerated() {
            var rule = original
            let at = "rules[\(index)]"
            rule.id = rule.id.trimmingCharacters(in: .whitespaces)
            if rule.id.isEmpty { rule.id = LeadIDs.make("rule", nowMs: nowMs) }
            if rule.id.count > 100 { errors.add("\(at).id", "at most 100 characters") }
            if !seen.insert(rule.id).inserted { errors.add("\(at).id", "duplicate id '\(rule.id)'") }
            rule.name = rule.name.trimmingCharacters(in: .whitespacesAndNewlines)
            if rule.name.isEmpty { errors.add("\(at).name", "required") }
            if rule.name.count > 200 { errors.add("\(at).name", "at most 200 characters") }
            for source in rule.sources {
                if case .unrecognized(let n) = source { errors.add("\(at).sources", "unknown value \(n)") }
                if source == .unspecified { errors.add("\(at).sources", "LEAD_SOURCE_UNSPECIFIED is not a source") }
            }
            rule.regions = rule.regions.map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            rule.industries = rule.industries.map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            rule.userIds = rule.userIds.map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            rule.teamId = rule.teamId.trimmingCharacters(in: .whitespaces)
            switch rule.strategy {
            case .roundRobin, .leastLoaded:
                if rule.teamId.isEmpty && rule.userIds.isEmpty {
                    errors.add("\(at).team_id", "team_id or user_ids required for \(rule.strategy.protoName)")
                }
            case .pool:
                break
            case .unspecified:
                errors.add("\(at).strategy", "required")
            case .unrecognized(let n):
                errors.add("\(at).strategy", "unknown value \(n)")
            }
            out.append(rule)
        }
        try errors.throwIfAny()
        return out
    }

    /// All criteria hold (empty criteria match anything; region/industry compare case-insensitively).
    static func matches(_ rule: Crm_Leads_V1_AssignmentRule, source: Crm_Leads_V1_LeadSource,
                        region: String, industry: String) -> Bool {
        if !rule.sources.isEmpty && !rule.sources.contains(source) { return false }
        if !rule.regions.isEmpty && !rule.regions.contains(where: { $0.caseInsensitiveCompare(region) == .orderedSame }) {
            return false
        }
        if !rule.industries.isEmpty
            && !rule.industries.contains(where: { $0.caseInsensitiveCompare(industry) == .orderedSame }) {
            return false
        }
        return true
    }

    /// Rules that pick a user need the directory; POOL rules do not.
    static func needDirectory(_ rules: [Crm_Leads_V1_AssignmentRule]) -> Bool {
        rules.contains { $0.enabled && ($0.strategy == .roundRobin || $0.strategy == .leastLoaded) }
    }
}
