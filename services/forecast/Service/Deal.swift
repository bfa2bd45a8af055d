import CRMProto

typealias Stage = Crm_Opportunities_V1_Stage
typealias RiskLevel = Crm_Opportunities_V1_RiskLevel
typealias OpportunityStatus = Crm_Opportunities_V1_OpportunityStatus

/// The facts crm-forecast keeps about one opportunity: everything R11 scores, the forecast groups
/// and the results module counts. Fed by crm-opportunities' events and its ExportForForecast feed;
/// never typed in by a user (PRODUCT.md "Results are computed from the process records").
struct Deal: Sendable, Equatable {
    var id: String
    /// Version of the opportunity these facts reflect (0 when only events were seen so far).
    var aggregateVersion: Int64 = 0

    // Identity, ownership, money.
    var title = ""
    var customerID = ""
    var customerName = ""
    var ownerID = ""
    var teamID = ""
    var leadID = ""
    var source: Int32 = 0
    var currency = ""
    var amountCents: Int64 = 0

    // Stage and status.
    var stage: Stage = .relationship
    var status: OpportunityStatus = .open
    var stageEnteredMs: Int64 = 0
    var expectedCloseDate = "" {
        didSet { expectedCloseDay = CivilDate.parse(expectedCloseDate) }
    }
    /// `expectedCloseDate` as a day number, parsed once (scoring 100,000 deals must not parse strings).
    private(set) var expectedCloseDay: Int?
    var createdMs: Int64 = 0
    var closedMs: Int64 = 0
    var signedAmountCents: Int64 = 0
    var signedDate = ""

    // R11 action facts.
    var keyPersonPresent = true
    var keyPersonConfirmed = false
    var keyPersonMet = false
    var faceToFaceHeld = false
    var quoted = false
    var followUpCount: Int64 = 0
    var firstFollowUpMs: Int64 = 0
    var lastFollowUpMs: Int64 = 0
    var lastActionMs: Int64 = 0
    /// follow_ups_last_30_days as crm-opportunities reported it at `syncedAtMs` (export feed).
    var syncedFollowUps30: Int32 = 0
    var syncedAtMs: Int64 = 0
    /// Times of the follow-ups seen as events, ascending (follow-up frequency at any instant).
    var followUpTimes: [Int64] = []

    // R8 risk as last reported.
    var riskLevel: RiskLevel = .green
    var riskYellow: Int32 = 0
    var riskRed: Int32 = 0

    // R12 stuck actions.
    var nextStepDueMs: Int64 = 0
    var openTaskCount: Int32 = 0
    var overdueTaskCount: Int32 = 0
    var oldestOverdueDueMs: Int64 = 0

    // Outcome: the stage it was won or lost from, the R10 review, and the facts frozen at closing
    // (what the fitted model learns from).
    var closedFromStage: Stage = .unspecified
    var lossReview: Crm_Opportunities_V1_LossReview?
    var closing: ClosingFacts?
    var updatedMs: Int64 = 0

    init(id: String) { self.id = id }

    var isOpen: Bool { status == .open }
    var isWon: Bool { status == .won }
    var isLost: Bool { status == .lost }

    /// Amount a win counts for: the signed amount (R9), else the opportunity amount.
    var wonAmountCents: Int64 { signedAmountCents > 0 ? signedAmountCents : amountCents }

    /// The day a won deal counts in: its signing date, else the day it was marked won.
    var wonDay: Int? {
        guard isWon else { return nil }
        return CivilDate.parse(signedDate) ?? (closedMs > 0 ? CivilDate.day(ofMs: closedMs) : nil)
    }

    /// The day a closed deal closed.
    var closedDay: Int? { closedMs > 0 ? CivilDate.day(ofMs: closedMs) : nil }

    /// Follow-ups in the 30 days up to `nowMs`: counted from events, or the export's figure while
    /// it is fresh (a day) when events have not shown as many.
    func followUps30(at nowMs: Int64) -> Int {
        let from = nowMs - 30 * 86_400_000
        var counted = 0
        for t in followUpTimes.reversed() {
            if t <= nowMs && t > from { counted += 1 } else if t <= from { break }
        }
        if syncedAtMs > 0, nowMs - syncedAtMs < 86_400_000 { return max(counted, Int(syncedFollowUps30)) }
        return counted
    }

    /// Records a follow-up time, keeping the list sorted.
    mutating func addFollowUpTime(_ t: Int64) {
        if let last = followUpTimes.last, t < last {
            let index = followUpTimes.firstIndex { $0 > t } ?? followUpTimes.count
            followUpTimes.insert(t, at: index)
        } else {
            followUpTimes.append(t)
        }
    }

    /// The R11 facts of this deal at `nowMs` (what GetProbability explains).
    func probabilityInputs(at nowMs: Int64) -> ProbabilityInputs {
        ProbabilityInputs(
            stage: stage, keyPersonConfirmed: keyPersonConfirmed, quoteGiven: quoted || stage.isAtLeast(.quote),
            faceToFaceHeld: faceToFaceHeld,
            daysToExpectedClose: expectedCloseDay.map { $0 - CivilDate.day(ofMs: nowMs) },
            followUps30: followUps30(at: nowMs),
            daysSinceLastFollowUp: lastFollowUpMs > 0 ? Int((nowMs - lastFollowUpMs) / 86_400_000) : nil,
            yellowFlags: Int(riskYellow), redFlags: Int(riskRed), riskLevel: riskLevel)
    }

    /// Freezes the facts of the moment a deal closes: the training example of the fitted model.
    func closingFacts(at closedMs: Int64, fromStage: Stage) -> ClosingFacts {
        let inputs = probabilityInputs(at: closedMs)
        return ClosingFacts(stage: fromStage.isOpenStage ? fromStage : stage,
                            keyPersonConfirmed: inputs.keyPersonConfirmed, quoteGiven: inputs.quoteGiven,
                            faceToFaceHeld: inputs.faceToFaceHeld, daysToExpectedClose: inputs.daysToExpectedClose,
                            followUps30: inputs.followUps30, yellowFlags: Int(riskYellow), redFlags: Int(riskRed))
    }
}

/// The R11 facts of an open deal at its closing moment, stored with the closed deal.
struct ClosingFacts: Sendable, Equatable {
    var stage: Stage
    var keyPersonConfirmed: Bool
    var quoteGiven: Bool
    var faceToFaceHeld: Bool
    var daysToExpectedClose: Int?
    var followUps30: Int
    var yellowFlags: Int
    var redFlags: Int

    var inputs: ProbabilityInputs {
        ProbabilityInputs(stage: stage, keyPersonConfirmed: keyPersonConfirmed, quoteGiven: quoteGiven,
                          faceToFaceHeld: faceToFaceHeld, daysToExpectedClose: daysToExpectedClose,
                          followUps30: followUps30, daysSinceLastFollowUp: nil,
                          yellowFlags: yellowFlags, redFlags: redFlags,
                          riskLevel: redFlags > 0 ? .red : yellowFlags > 0 ? .yellow : .green)
    }
}

extension Crm_Opportunities_V1_Stage {
    /// The six open stages in order (RELATIONSHIP ... CONTRACT).
    static let openStages: [Stage] = [.relationship, .needsConfirmed, .solutionFit, .quote, .negotiation, .contract]

    var isOpenStage: Bool { (1...6).contains(rawValue) }

    /// Position in the open-stage order (RELATIONSHIP = 0); nil for WON, LOST and unknown values.
    var openIndex: Int? { isOpenStage ? Int(rawValue) - 1 : nil }

    func isAtLeast(_ other: Stage) -> Bool { isOpenStage && rawValue >= other.rawValue }
}
