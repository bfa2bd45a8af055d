import CRMProto
import Foundation
import GRDB
import RPCCore
import ServiceRuntime

typealias TargetSet = Crm_Forecast_V1_TargetSet

/// Line 6 targets: a period's company amount broken down to teams and people. The parts must sum
/// to the whole — teams to the company amount, a team's people to the team amount — or the call
/// says by how much they do not. A level left without parts is not broken down yet, which is allowed.
enum TargetRules {
    /// Field problems (INVALID_ARGUMENT) other than sums.
    static func validate(_ targets: TargetSet, errors: inout FieldErrors) {
        if Period.parse(targets.period) == nil {
            errors.add("targets.period", targets.period.isEmpty ? "required" : "'\(targets.period)' is not YYYY-MM, YYYY-Qn or YYYY")
        }
        if !SettingsStore.isCurrency(targets.currency) {
            errors.add("targets.currency", targets.currency.isEmpty ? "required" : "'\(targets.currency)' is not a 3-letter ISO 4217 code")
        }
        func amount(_ field: String, _ value: Int64) {
            if value < 0 { errors.add(field, "must not be negative") }
            if value > Bounds.maxTargetCents { errors.add(field, "must be at most \(Bounds.maxTargetCents)") }
        }
        amount("targets.company_amount_cents", targets.companyAmountCents)
        var teams = Set<String>()
        var people: [String: String] = [:]
        for (i, team) in targets.teams.enumerated() {
            let field = "targets.teams[\(i)]"
            if team.teamId.trimmingCharacters(in: .whitespaces).isEmpty { errors.add("\(field).team_id", "required") }
            else if !teams.insert(team.teamId).inserted { errors.add("\(field).team_id", "'\(team.teamId)' appears twice") }
            amount("\(field).amount_cents", team.amountCents)
            for (j, person) in team.people.enumerated() {
                let personField = "\(field).people[\(j)]"
                if person.userId.trimmingCharacters(in: .whitespaces).isEmpty { errors.add("\(personField).user_id", "required") }
                else if let other = people[person.userId] {
                    errors.add("\(personField).user_id", "'\(person.userId)' already has a target in team '\(other)'")
                } else { people[person.userId] = team.teamId }
                amount("\(personField).amount_cents", person.amountCents)
            }
        }
    }

    /// Every level whose parts do not sum to the whole, with the difference.
    static func mismatches(_ targets: TargetSet) -> [Crm_Forecast_V1_TargetMismatch] {
        var result: [Crm_Forecast_V1_TargetMismatch] = []
        if !targets.teams.isEmpty {
            let sum = targets.teams.reduce(Int64(0)) { $0 &+ $1.amountCents }
            if sum != targets.companyAmountCents {
                result.append(mismatch(.company, "", expected: targets.companyAmountCents, sum: sum,
                                       what: "teams sum to", whole: "company_amount_cents"))
            }
        }
        for team in targets.teams where !team.people.isEmpty {
            let sum = team.people.reduce(Int64(0)) { $0 &+ $1.amountCents }
            if sum != team.amountCents {
                result.append(mismatch(.team, team.teamId, expected: team.amountCents, sum: sum,
                                       what: "people of team '\(team.teamId)' sum to", whole: "the team's amount_cents"))
            }
        }
        return result
    }

    private static func mismatch(_ scope: Crm_Forecast_V1_Scope, _ id: String, expected: Int64, sum: Int64,
                                 what: String, whole: String) -> Crm_Forecast_V1_TargetMismatch {
        let difference = sum &- expected
        let direction = difference < 0 ? "short by \(-difference)" : "over by \(difference)"
        return Crm_Forecast_V1_TargetMismatch(
            scope: scope, scopeId: id, expectedCents: expected, partsSumCents: sum, differenceCents: difference,
            message: "\(what) \(sum), not \(whole) \(expected) (\(direction))")
    }

    /// A manager may only change the people of their own team: everything else must match what is stored.
    static func checkManagerChange(_ caller: Caller, stored: TargetSet?, proposed: TargetSet) throws {
        guard let stored else {
            throw RPCError(.permissionDenied, "targets of \(proposed.period) are set by an admin first; a manager sets only their team's people")
        }
        func withoutOwnPeople(_ set: TargetSet) -> [String: Int64] {
            var flat: [String: Int64] = ["company": set.companyAmountCents]
            for team in set.teams {
                flat["team/\(team.teamId)"] = team.amountCents
                if team.teamId != caller.team {
                    for person in team.people { flat["person/\(team.teamId)/\(person.userId)"] = person.amountCents }
                }
            }
            return flat
        }
        guard stored.currency == proposed.currency, withoutOwnPeople(stored) == withoutOwnPeople(proposed) else {
            throw RPCError(.permissionDenied, "a manager may change only the people of team '\(caller.team)'; company, team amounts and other teams are an admin's")
        }
    }

    /// What a caller may see of a target set: a rep their own line, a manager their team.
    static func visible(_ targets: TargetSet, to caller: Caller) -> TargetSet {
        guard caller.role != .admin else { return targets }
        var copy = targets
        copy.teams = targets.teams.filter { $0.teamId == caller.team }.map { team in
            var team = team
            if caller.role == .rep { team.people = team.people.filter { $0.userId == caller.userID } }
            return team
        }
        return copy
    }
}

enum TargetStore {
    static func load(_ db: Database, period: String) throws -> TargetSet? {
        guard let row = try Row.fetchOne(db, sql: "SELECT body, version FROM targets WHERE period = ?", arguments: [period]) else {
            return nil
        }
        var targets = try TargetSet(serializedBytes: Array(row["body"] as Data))
        targets.version = row["version"]
        return targets
    }

    static func save(_ db: Database, _ targets: TargetSet) throws {
        try db.execute(sql: """
            INSERT INTO targets (period, body, version) VALUES (?, ?, ?)
            ON CONFLICT (period) DO UPDATE SET body = excluded.body, version = excluded.version
            """, arguments: [targets.period, Data(targets.serializedBytes()), targets.version])
    }

    static func all(_ db: Database) throws -> [TargetSet] {
        try Row.fetchAll(db, sql: "SELECT body, version FROM targets ORDER BY period").map { row in
            var targets = try TargetSet(serializedBytes: Array(row["body"] as Data))
            targets.version = row["version"]
            return targets
        }
    }
}

/// Target amounts by row level, in the currency of a figure (nothing when the currency differs).
struct TargetLookup: Sendable {
    var company: Int64?
    var teams: [String: Int64] = [:]
    var people: [String: Int64] = [:]

    static let none = TargetLookup(company: nil)

    init(company: Int64?) { self.company = company }

    init(_ targets: TargetSet?, currency: String) {
        guard let targets, targets.currency == currency else { self.company = nil; return }
        company = targets.companyAmountCents
        for team in targets.teams {
            teams[team.teamId] = team.amountCents
            for person in team.people { people[person.userId] = person.amountCents }
        }
    }

    func amount(for key: RowKey) -> Int64? {
        switch key.scope {
        case .company: company
        case .team: teams[key.id]
        case .user: people[key.id]
        default: nil
        }
    }
}
