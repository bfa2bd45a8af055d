import Foundation

/// Normalised forms of a company name.
///
/// The duplicate guard must see "ACME, Inc.", "Acme Inc" and "acme" as one company, while search
/// and the name order only need case, accents and spacing folded.
enum NameKey {
    /// Lower-cased, accents and widths folded, runs of whitespace collapsed to one space.
    static func search(_ name: String) -> String {
        let folded = name.folding(options: [.caseInsensitive, .diacriticInsensitive, .widthInsensitive], locale: nil)
            .lowercased()
        return folded.split(whereSeparator: { $0.isWhitespace }).joined(separator: " ")
    }

    /// Legal-form words that do not tell two companies apart ("Acme Ltd" is "Acme").
    static let legalForms: Set<String> = [
        "inc", "incorporated", "ltd", "limited", "llc", "llp", "lp", "co", "corp", "corporation", "company",
        "gmbh", "ag", "kg", "sa", "sas", "sarl", "srl", "spa", "bv", "nv", "oy", "ab", "as", "plc", "pty", "pte",
        "kk", "group", "holding", "holdings",
    ]
    static let cjkLegalForms = ["股份有限公司", "有限责任公司", "有限公司", "集团", "公司"]

    /// Letters and digits only, legal-form words dropped from the end (at least one word is kept).
    static func duplicateKey(_ name: String) -> String {
        var words = search(name).split(whereSeparator: { !($0.isLetter || $0.isNumber) }).map(String.init)
        while words.count > 1, let last = words.last, legalForms.contains(last) { words.removeLast() }
        var key = words.joined()
        for suffix in cjkLegalForms where key.hasSuffix(suffix) && key.count > suffix.count {
            key.removeLast(suffix.count)
            break
        }
        return key
    }
}
