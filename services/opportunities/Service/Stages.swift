import Foundation
import ServiceRuntime

/// Line 3 of PRODUCT.md: relationship -> needs confirmed -> solution fit -> quote & commercial ->
/// negotiation -> procurement/contract -> won | lost, and the R4 gates between them.
enum StageLadder {
    /// The open stages in order; WON and LOST close a deal and are reached only by MarkWon / MarkLost.
    static let open: [Stage] = [.relationship, .needsConfirmed, .solutionFit, .quote, .negotiation, .contract]

    /// Position of an open stage on the ladder (nil for WON, LOST and unknown values).
    static func rank(_ stage: Stage) -> Int? { open.firstIndex(of: stage) }

    /// The open stages strictly between `from` and `to` (the ones a forward move jumps over).
    static func skipped(from: Stage, to: Stage) -> [Stage] {
        guard let a = rank(from), let b = rank(to), b > a + 1 else { return [] }
        return Array(open[(a + 1)..<b])
    }

    /// Stages entered when moving forward from `from` to `to`, `to` included; for a stage beyond the
    /// ladder (WON) every stage after `from`.
    static func entered(from: Stage, to: Stage) -> [Stage] {
        let start = rank(from).map { $0 + 1 } ?? 0
        let end = rank(to) ?? (open.count - 1)
        guard start <= end else { return [] }
        return Array(open[start...end])
    }

    /// "quote" for STAGE_QUOTE: how messages name a stage.
    static func label(_ stage: Stage) -> String {
        switch stage {
        case .relationship: "relationship"
        case .needsConfirmed: "needs confirmed"
        case .solutionFit: "solution fit"
        case .quote: "quote"
        case .negotiation: "negotiation"
        case .contract: "contract"
        case .won: "won"
        case .lost: "lost"
        case .unspecified: "unspecified"
        case .unrecognized(let n): "stage \(n)"
        }
    }
}

/// R4: the facts a stage needs before an opportunity may enter it. Cumulative: skipping stages needs
/// the facts of every skipped stage.
enum StageGates {
    /// The fact fields `stage` needs that `o` does not have.
    static func missingFacts(for stage: Stage, in o: Opportunity) -> [String] {
        switch stage {
        case .needsConfirmed:
            return o.needsSummary.isBlank ? ["needs_summary"] : []
        case .quote:
            var missing: [String] = []
            if o.quoteAmountCents <= 0 { missing.append("quote_amount_cents") }
            if o.quoteDate.isEmpty { missing.append("quote_date") }
            return missing
        case .negotiation:
            return o.negotiationPoints.contains(where: { !$0.isBlank }) ? [] : ["negotiation_points"]
        case .contract:
            return o.contractDocumentRef.isBlank ? ["contract_document_ref"] : []
        default:
            return []
        }
    }

    /// FAILED_PRECONDITION "R4: …" when any of `stages` lacks its facts, naming each stage and field,
    /// e.g. "R4: cannot move to quote: quote stage needs quote_amount_cents and quote_date".
    static func check(entering stages: [Stage], target: String, in o: Opportunity) throws {
        let gaps = stages.compactMap { stage -> String? in
            let missing = missingFacts(for: stage, in: o)
            return missing.isEmpty ? nil : "\(StageLadder.label(stage)) stage needs \(missing.joined(separator: " and "))"
        }
        if !gaps.isEmpty {
            throw ruleViolation("R4", "cannot move to \(target): \(gaps.joined(separator: "; "))")
        }
    }
}

/// R4 gate facts supplied with a request (StageFacts): validated, then stored on the record.
enum StageFactsInput {
    /// Names every malformed supplied fact (`facts.quote_date: not a date …`).
    static func validate(_ facts: StageFacts?, into errors: inout FieldErrors, prefix: String = "facts.") {
        guard let facts else { return }
        if let text = facts.needsSummary { errors.maxLength(prefix + "needs_summary", text, 4000) }
        if let text = facts.solutionSummary { errors.maxLength(prefix + "solution_summary", text, 4000) }
        if let amount = facts.quoteAmountCents, amount <= 0 {
            errors.add(prefix + "quote_amount_cents", "must be positive, got \(amount)")
        }
        if let date = facts.quoteDate, !date.isEmpty, CivilDate(parsing: date) == nil {
            errors.add(prefix + "quote_date", "not a date (YYYY-MM-DD): '\(date)'")
        }
        if let text = facts.quoteDocumentRef { errors.maxLength(prefix + "quote_document_ref", text, 1000) }
        if let points = facts.negotiationPoints {
            if points.values.count > 100 { errors.add(prefix + "negotiation_points", "at most 100 points") }
            for point in points.values { errors.maxLength(prefix + "negotiation_points", point, 1000) }
        }
        if let text = facts.contractDocumentRef { errors.maxLength(prefix + "contract_document_ref", text, 1000) }
    }

    /// Stores the supplied facts (set fields replace; blank text counts as not supplied).
    static func apply(_ facts: StageFacts?, to o: inout Opportunity) {
        guard let facts else { return }
        if let text = facts.needsSummary?.trimmed, !text.isEmpty { o.needsSummary = text }
        if let text = facts.solutionSummary?.trimmed, !text.isEmpty { o.solutionSummary = text }
        if let amount = facts.quoteAmountCents, amount > 0 { o.quoteAmountCents = amount }
        if let date = facts.quoteDate, let parsed = CivilDate(parsing: date) { o.quoteDate = parsed.description }
        if let text = facts.quoteDocumentRef?.trimmed, !text.isEmpty { o.quoteDocumentRef = text }
        if let points = facts.negotiationPoints {
            let cleaned = points.values.map(\.trimmed).filter { !$0.isEmpty }
            if !cleaned.isEmpty { o.negotiationPoints = cleaned }
        }
        if let text = facts.contractDocumentRef?.trimmed, !text.isEmpty { o.contractDocumentRef = text }
    }
}

extension String {
    var trimmed: String { trimmingCharacters(in: .whitespacesAndNewlines) }
    var isBlank: Bool { trimmed.isEmpty }
}
