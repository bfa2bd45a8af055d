import CRMProto
import Foundation

/// The R11 facts of one deal, as the salesperson's actions produced them. Probability is computed
/// from these; nobody types a probability.
struct ProbabilityInputs: Sendable, Equatable {
    var stage: Stage
    var keyPersonConfirmed: Bool
    var quoteGiven: Bool
    var faceToFaceHeld: Bool
    /// Negative once the expected close date has passed; nil when unknown.
    var daysToExpectedClose: Int?
    var followUps30: Int
    var daysSinceLastFollowUp: Int?
    var yellowFlags: Int
    var redFlags: Int
    var riskLevel: RiskLevel

    var openRiskCount: Int { yellowFlags + redFlags }
}

/// The numeric features of the logistic model (ModelWeights in forecast.proto documents the units).
/// Every feature is 0 at its neutral value, so a factor's contribution is weight × value.
struct Features: Sendable, Equatable {
    static let count = 6
    static let maxCloseDistance = 6.0
    static let maxFollowUps = 8.0
    static let maxRiskUnits = 6.0

    var values: [Double]  // keyPerson, quote, faceToFace, closeDistance, followUps, risk

    init(_ inputs: ProbabilityInputs) {
        values = [
            inputs.keyPersonConfirmed ? 1 : 0,
            inputs.quoteGiven ? 1 : 0,
            inputs.faceToFaceHeld ? 1 : 0,
            Features.closeDistance(daysToClose: inputs.daysToExpectedClose),
            min(Double(max(inputs.followUps30, 0)), Features.maxFollowUps),
            min(Double(inputs.yellowFlags + 2 * inputs.redFlags), Features.maxRiskUnits),
        ]
    }

    /// Distance from the expected close in 30-day units, capped at 6: a deal due soon scores
    /// highest, one far out or slipping lower; months past the date count double, because a deal
    /// that missed its own close date has lost its timeline.
    static func closeDistance(daysToClose: Int?) -> Double {
        guard let days = daysToClose else { return 0 }
        let months = days >= 0 ? Double(days) / 30 : 2 * Double(-days) / 30
        return min(months, maxCloseDistance)
    }
}

/// Weights of the logistic model: a base logit per open stage plus one weight per feature.
/// logit = base[stage] + Σ weight × feature; probability = 1 / (1 + e^-logit).
struct Weights: Sendable, Equatable {
    /// Base logit of each open stage, indexed by `Stage.openIndex`.
    var stageLogits: [Double]
    /// keyPerson, quote, faceToFace, closeDistance, followUps, risk (same order as `Features`).
    var factors: [Double]

    /// Sensible defaults before the organisation has history: stage bases rising along the funnel,
    /// actions that show a real buyer (confirmed key person, face-to-face, quote, frequent
    /// follow-up) raising the odds, risk flags and a slipping close date lowering them.
    static let defaults = Weights(
        stageLogits: [0.08, 0.15, 0.25, 0.35, 0.50, 0.70].map(logit),
        factors: [0.60, 0.40, 0.50, -0.25, 0.10, -0.45])

    func logit(stage: Stage, features: Features) -> Double {
        var value = stageLogits[stage.openIndex ?? 0]
        for i in 0..<Features.count { value += factors[i] * features.values[i] }
        return value
    }

    /// The probability without building a feature vector: the bulk path (100,000 deals per
    /// recompute). Same transforms as `Features`; `explain` and the fit use the vector form.
    func probability(_ inputs: ProbabilityInputs) -> Double {
        guard let index = inputs.stage.openIndex else { return inputs.stage == .won ? 1 : 0 }
        var z = stageLogits[index]
        if inputs.keyPersonConfirmed { z += factors[0] }
        if inputs.quoteGiven { z += factors[1] }
        if inputs.faceToFaceHeld { z += factors[2] }
        z += factors[3] * Features.closeDistance(daysToClose: inputs.daysToExpectedClose)
        z += factors[4] * min(Double(max(inputs.followUps30, 0)), Features.maxFollowUps)
        z += factors[5] * min(Double(inputs.yellowFlags + 2 * inputs.redFlags), Features.maxRiskUnits)
        return sigmoid(z)
    }

    var isFinite: Bool { (stageLogits + factors).allSatisfy(\.isFinite) }

    // MARK: proto form

    init(stageLogits: [Double], factors: [Double]) {
        self.stageLogits = stageLogits
        self.factors = factors
    }

    /// From the contract's ModelWeights; stages it does not name keep `fallback`'s base.
    init(proto: Crm_Forecast_V1_ModelWeights, fallback: Weights = .defaults) {
        var logits = fallback.stageLogits
        for base in proto.stageBases {
            if let index = base.stage.openIndex, base.baseProbability > 0, base.baseProbability < 1 {
                logits[index] = Weights.logit(base.baseProbability)
            }
        }
        stageLogits = logits
        factors = [proto.keyPersonConfirmed, proto.quoteGiven, proto.faceToFaceHeld,
                   proto.daysToExpectedClose, proto.followUpFrequency, proto.openRisks]
    }

    var proto: Crm_Forecast_V1_ModelWeights {
        Crm_Forecast_V1_ModelWeights(
            stageBases: Stage.openStages.map { stage in
                Crm_Forecast_V1_StageBase(stage: stage, baseProbability: sigmoid(stageLogits[stage.openIndex!]))
            },
            keyPersonConfirmed: factors[0], quoteGiven: factors[1], faceToFaceHeld: factors[2],
            daysToExpectedClose: factors[3], followUpFrequency: factors[4], openRisks: factors[5])
    }

    static func logit(_ p: Double) -> Double { Foundation.log(p / (1 - p)) }
}

@inline(__always)
func sigmoid(_ x: Double) -> Double {
    x >= 0 ? 1 / (1 + exp(-x)) : exp(x) / (1 + exp(x))
}

/// A model ready to score: its weights and how it identifies itself in responses (R11 "the
/// response says which model produced it").
struct ScoringModel: Sendable {
    var weights: Weights
    var info: Crm_Forecast_V1_ModelInfo

    func probability(_ inputs: ProbabilityInputs) -> Double { weights.probability(inputs) }

    /// The R11 explanation: base for the stage and each factor's contribution.
    func explain(_ inputs: ProbabilityInputs) -> (probability: Double, baseLogit: Double,
                                                 factors: [Crm_Forecast_V1_FactorContribution]) {
        guard inputs.stage.isOpenStage else {
            return (inputs.stage == .won ? 1 : 0, 0, [])
        }
        let features = Features(inputs)
        let base = weights.stageLogits[inputs.stage.openIndex!]
        let total = weights.logit(stage: inputs.stage, features: features)
        let probability = sigmoid(total)
        var factors: [Crm_Forecast_V1_FactorContribution] = [
            Crm_Forecast_V1_FactorContribution(
                factor: .stage, observedValue: inputs.stage.protoName, featureValue: 1, weight: base,
                logitContribution: base, probabilityDelta: probability - sigmoid(total - base),
                explanation: "stage \(inputs.stage.label) starts at \(percent(sigmoid(base))) before the other facts"),
        ]
        let described: [(Crm_Forecast_V1_ProbabilityFactor, String, String)] = [
            (.keyPersonConfirmed, inputs.keyPersonConfirmed ? "yes" : "no",
             inputs.keyPersonConfirmed ? "the key person is confirmed" : "the key person is not confirmed"),
            (.quoteGiven, inputs.quoteGiven ? "yes" : "no",
             inputs.quoteGiven ? "a quote was given" : "no quote given yet"),
            (.faceToFaceHeld, inputs.faceToFaceHeld ? "yes" : "no",
             inputs.faceToFaceHeld ? "a face-to-face meeting was held" : "no face-to-face meeting yet"),
            (.daysToExpectedClose, closeText(inputs.daysToExpectedClose), closeExplanation(inputs.daysToExpectedClose)),
            (.followUpFrequency, "\(inputs.followUps30) follow-ups in 30 days",
             "\(inputs.followUps30) follow-ups in the last 30 days"),
            (.openRisks, "\(inputs.openRiskCount) open risk flags (\(inputs.redFlags) red)",
             inputs.openRiskCount == 0 ? "no open R8 risk flags" : "\(inputs.openRiskCount) open R8 risk flags, \(inputs.redFlags) red"),
        ]
        for (i, (factor, observed, text)) in described.enumerated() {
            let contribution = features.values[i] == 0 ? 0 : weights.factors[i] * features.values[i]
            let delta = probability - sigmoid(total - contribution)
            factors.append(Crm_Forecast_V1_FactorContribution(
                factor: factor, observedValue: observed, featureValue: features.values[i], weight: weights.factors[i],
                logitContribution: contribution, probabilityDelta: delta,
                explanation: "\(text): \(signedPoints(delta))"))
        }
        return (probability, base, factors)
    }

    private func closeText(_ days: Int?) -> String {
        guard let days else { return "unknown" }
        return days >= 0 ? "\(days) days" : "\(-days) days overdue"
    }

    private func closeExplanation(_ days: Int?) -> String {
        guard let days else { return "no expected close date" }
        return days >= 0 ? "expected to close in \(days) days" : "expected close date passed \(-days) days ago"
    }
}

func percent(_ p: Double) -> String { String(format: "%.1f%%", p * 100) }

func signedPoints(_ delta: Double) -> String {
    String(format: "%@%.1f points", delta >= 0 ? "+" : "-", abs(delta) * 100)
}

extension Crm_Opportunities_V1_Stage {
    /// "QUOTE" from "STAGE_QUOTE", for messages.
    var label: String { protoName.hasPrefix("STAGE_") ? String(protoName.dropFirst(6)) : protoName }
}
