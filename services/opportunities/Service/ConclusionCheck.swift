import Foundation
import ServiceRuntime

/// R5: every follow-up states a real conclusion and names the next step. Empty, too short and
/// boilerplate texts ("talked, pending", "following up", "ok", … — the configured list) are refused.
enum ConclusionCheck {
    /// Lower-cased, punctuation dropped, whitespace collapsed: "Talked,  pending!" -> "talked pending".
    static func normalize(_ text: String) -> String {
        let lowered = text.lowercased()
        var scalars = String.UnicodeScalarView()
        for scalar in lowered.unicodeScalars {
            if CharacterSet.punctuationCharacters.contains(scalar) || CharacterSet.symbols.contains(scalar) {
                scalars.append(" ")
            } else if CharacterSet.whitespacesAndNewlines.contains(scalar) {
                scalars.append(" ")
            } else {
                scalars.append(scalar)
            }
        }
        return String(scalars).split(separator: " ").joined(separator: " ")
    }

    /// Why `conclusion` is not acceptable, or nil when it is.
    static func problem(conclusion: String, settings: OpportunitySettings) -> String? {
        let text = conclusion.trimmed
        if text.isEmpty { return "conclusion: required (what was learned or agreed)" }
        let normalized = normalize(text)
        let junk = Set(settings.junkConclusions.map(normalize).filter { !$0.isEmpty })
        if junk.contains(normalized) || isOnlyJunk(normalized, junk: junk) {
            return "conclusion: '\(text)' is boilerplate; say what was learned or agreed"
        }
        let length = text.split(whereSeparator: \.isWhitespace).joined(separator: " ").count
        if length < Int(settings.minConclusionLength) {
            return "conclusion: too short (\(length) characters, at least \(settings.minConclusionLength))"
        }
        if normalized.isEmpty { return "conclusion: has no words" }
        return nil
    }

    /// Why `nextStep` does not name a next step, or nil.
    static func problem(nextStep: String, settings: OpportunitySettings) -> String? {
        let text = nextStep.trimmed
        if text.isEmpty { return "next_step: required (every follow-up names the next step)" }
        let normalized = normalize(text)
        let junk = Set(settings.junkConclusions.map(normalize).filter { !$0.isEmpty })
        if normalized.isEmpty || junk.contains(normalized) || isOnlyJunk(normalized, junk: junk) {
            return "next_step: '\(text)' does not name a next step"
        }
        return nil
    }

    /// True when the text is nothing but junk phrases strung together ("ok, following up, pending").
    static func isOnlyJunk(_ normalized: String, junk: Set<String>) -> Bool {
        let words = normalized.split(separator: " ").map(String.init)
        guard !words.isEmpty else { return true }
        // covered[i]: words[0..<i] can be split into junk phrases.
        var covered = [Bool](repeating: false, count: words.count + 1)
        covered[0] = true
        for end in 1...words.count {
            for start in stride(from: end - 1, through: max(0, end - 6), by: -1) where covered[start] {
                if junk.contains(words[start..<end].joined(separator: " ")) {
                    covered[end] = true
                    break
                }
            }
        }
        return covered[words.count]
    }
}
