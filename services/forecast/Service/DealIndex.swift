/// The columns the bulk paths need (scoring, forecast rows, snapshots), one compact slot per deal
/// with owner, team and currency interned as small integers: scoring 100,000 deals then touches no
/// strings and copies no `Deal`s. Kept in step with the full facts by `DealBook`.
struct DealIndex: Sendable {
    /// Follow-up times kept per slot: the feature caps follow-up frequency at 8, so the 8 most
    /// recent follow-ups decide it exactly.
    static let recentCount = 8
    static let noDay = Int32.min

    struct Slot: Sendable {
        var status: OpportunityStatus = .open
        var stage: Stage = .relationship
        var keyPersonConfirmed = false
        var quoteGiven = false
        var faceToFaceHeld = false
        var yellowFlags: Int32 = 0
        var redFlags: Int32 = 0
        var riskLevel: RiskLevel = .green
        var currency: Int32 = 0
        var owner: Int32 = 0
        var team: Int32 = 0
        var amountCents: Int64 = 0
        var wonAmountCents: Int64 = 0
        var expectedCloseDay: Int32 = DealIndex.noDay
        var wonDay: Int32 = DealIndex.noDay
        var syncedFollowUps30: Int32 = 0
        var syncedAtMs: Int64 = 0
    }

    private(set) var ids: [String] = []
    private(set) var slots: [Slot] = []
    /// `recentCount` follow-up times per slot, most recent first, 0 = none.
    private(set) var recent: [Int64] = []
    private var position: [String: Int] = [:]
    private(set) var names = Interner()

    var count: Int { slots.count }

    mutating func upsert(_ deal: Deal) {
        let index: Int
        if let existing = position[deal.id] {
            index = existing
        } else {
            index = slots.count
            position[deal.id] = index
            ids.append(deal.id)
            slots.append(Slot())
            recent.append(contentsOf: repeatElement(0, count: Self.recentCount))
        }
        slots[index] = Slot(
            status: deal.status, stage: deal.stage, keyPersonConfirmed: deal.keyPersonConfirmed,
            quoteGiven: deal.quoted || deal.stage.isAtLeast(.quote), faceToFaceHeld: deal.faceToFaceHeld,
            yellowFlags: deal.riskYellow, redFlags: deal.riskRed, riskLevel: deal.riskLevel,
            currency: names.code(deal.currency), owner: names.code(deal.ownerID), team: names.code(deal.teamID),
            amountCents: deal.amountCents, wonAmountCents: deal.wonAmountCents,
            expectedCloseDay: deal.expectedCloseDay.map { Int32(clamping: $0) } ?? Self.noDay,
            wonDay: deal.wonDay.map { Int32(clamping: $0) } ?? Self.noDay,
            syncedFollowUps30: deal.syncedFollowUps30, syncedAtMs: deal.syncedAtMs)
        let base = index * Self.recentCount
        let times = deal.followUpTimes
        for k in 0..<Self.recentCount {
            recent[base + k] = k < times.count ? times[times.count - 1 - k] : 0
        }
    }

    /// The R11 facts of slot `i` at `nowMs`: the same facts `Deal.probabilityInputs` gives (the
    /// follow-up count is exact up to the cap of 8, which is all the model uses).
    func inputs(_ i: Int, nowMs: Int64, nowDay: Int) -> ProbabilityInputs {
        let slot = slots[i]
        let from = nowMs - 30 * 86_400_000
        var counted = 0
        let base = i * Self.recentCount
        for k in 0..<Self.recentCount {
            let t = recent[base + k]
            if t == 0 || t <= from { break }
            if t <= nowMs { counted += 1 }
        }
        if slot.syncedAtMs > 0, nowMs - slot.syncedAtMs < 86_400_000 { counted = max(counted, Int(slot.syncedFollowUps30)) }
        return ProbabilityInputs(
            stage: slot.stage, keyPersonConfirmed: slot.keyPersonConfirmed, quoteGiven: slot.quoteGiven,
            faceToFaceHeld: slot.faceToFaceHeld,
            daysToExpectedClose: slot.expectedCloseDay == Self.noDay ? nil : Int(slot.expectedCloseDay) - nowDay,
            followUps30: counted, daysSinceLastFollowUp: nil, yellowFlags: Int(slot.yellowFlags),
            redFlags: Int(slot.redFlags), riskLevel: slot.riskLevel)
    }
}

/// Strings as small integer codes (owners, teams, currencies). Codes are never reused; "" is code 0.
struct Interner: Sendable {
    private(set) var names: [String] = [""]
    private var codes: [String: Int32] = ["": 0]

    mutating func code(_ name: String) -> Int32 {
        if let code = codes[name] { return code }
        let code = Int32(names.count)
        names.append(name)
        codes[name] = code
        return code
    }

    func lookup(_ name: String) -> Int32? { codes[name] }

    subscript(code: Int32) -> String { names[Int(code)] }

    var count: Int { names.count }
}
