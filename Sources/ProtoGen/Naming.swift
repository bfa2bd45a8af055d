/// How proto names become Swift names. Every rule lives here so the emitter and the resolver agree.
enum Naming {
    /// `crm.leads.v1` + `Lead` → `Crm_Leads_V1_Lead`: package parts upper-camel-cased, joined by `_`.
    static func topLevelTypeName(package: String, name: String) -> String {
        let parts = package.split(separator: ".").map { upperCamel(String($0)) }
        return nestedTypeName((parts + [name]).joined(separator: "_"))
    }

    /// The Swift name of a message or enum: top-level types carry the package, nested ones
    /// are nested Swift types (`Crm_Leads_V1_Outer.Inner`).
    static func swiftTypeName(_ name: String, parent: String?, package: String) -> String {
        guard let parent else { return topLevelTypeName(package: package, name: name) }
        return parent + "." + nestedTypeName(name)
    }

    /// A nested type keeps its proto name, escaped when it would clash with Swift.
    static func nestedTypeName(_ name: String) -> String {
        ["Type", "Protocol", "Self"].contains(name) ? name + "_" : escaped(name)
    }

    /// `fill_oauth_scope` → `fillOauthScope`.
    static func fieldName(_ protoName: String) -> String {
        member(lowerCamel(protoName))
    }

    /// `CreateLead` → `createLead`, `GetURL` → `getURL`, `HTTPGet` → `httpGet`.
    static func methodName(_ rpcName: String) -> String {
        member(lowerCamel(rpcName))
    }

    /// Enum case of a value: drop the UPPER_SNAKE prefix of the enum's name, then lowerCamel.
    /// `LEAD_SOURCE_TRADE_SHOW` in `LeadSource` → `tradeShow`; `SERVICE_UNKNOWN` in
    /// `ServingStatus` → `serviceUnknown`. A remainder that starts with a digit keeps the prefix.
    static func enumCaseName(value: String, enumName: String) -> String {
        let stripped = strippingPrefix(enumName, from: value) ?? value
        let name = lowerCamel(stripped.lowercased())
        return enumReservedCases.contains(name) ? name + "_" : escaped(name)
    }

    /// Names the generated enum already uses for its own members.
    private static let enumReservedCases: Set<String> = [
        "unrecognized", "rawValue", "allCases", "protoName", "self", "Type", "Protocol", "hashValue",
    ]

    /// Names the generated message already uses, or that cannot be a stored property.
    private static let reservedMembers: Set<String> = [
        "protoMessageName", "encode", "decodeField", "serializedBytes", "merge",
        "self", "Type", "Protocol", "Self", "init",
    ]

    private static func member(_ name: String) -> String {
        reservedMembers.contains(name) ? name + "_" : escaped(name)
    }

    /// `value` without the UPPER_SNAKE form of `enumName` and its `_`, if it starts with it.
    /// Letters are compared ignoring case and underscores, so `ServingStatus` matches `SERVING_STATUS_`.
    static func strippingPrefix(_ enumName: String, from value: String) -> String? {
        let prefix = Array(enumName.lowercased().filter { $0 != "_" })
        let characters = Array(value)
        var i = 0
        var matched = 0
        while matched < prefix.count, i < characters.count {
            if characters[i] == "_" {
                i += 1
                continue
            }
            guard Character(characters[i].lowercased()) == prefix[matched] else { return nil }
            i += 1
            matched += 1
        }
        guard matched == prefix.count, i < characters.count, characters[i] == "_" else { return nil }
        while i < characters.count, characters[i] == "_" { i += 1 }
        let rest = String(characters[i...])
        guard let first = rest.first, !first.isNumber else { return nil }
        return rest
    }

    /// `snake_case_name` → `snakeCaseName`. A leading all-caps run is lowered as a word (`URL` → `url`).
    static func lowerCamel(_ name: String) -> String {
        let words = name.split(separator: "_").map(String.init)
        guard let first = words.first else { return name }
        return lowerLeadingWord(first) + words.dropFirst().map(upperFirst).joined()
    }

    static func upperCamel(_ name: String) -> String {
        name.split(separator: "_").map { upperFirst(String($0)) }.joined()
    }

    private static func upperFirst(_ word: String) -> String {
        guard let first = word.first else { return word }
        return first.uppercased() + word.dropFirst()
    }

    /// Lowercases the leading capitals, leaving the last one of a run that starts the next word:
    /// `HTTPGet` → `httpGet`, `URL` → `url`, `CreateLead` → `createLead`.
    private static func lowerLeadingWord(_ word: String) -> String {
        let chars = Array(word)
        var upperRun = 0
        while upperRun < chars.count, chars[upperRun].isUppercase { upperRun += 1 }
        if upperRun > 1, upperRun < chars.count, chars[upperRun].isLowercase { upperRun -= 1 }
        return String(chars[..<upperRun]).lowercased() + String(chars[upperRun...])
    }

    /// Backticks for Swift keywords, so any proto identifier is a valid Swift identifier.
    static func escaped(_ name: String) -> String {
        swiftKeywords.contains(name) ? "`\(name)`" : name
    }

    static let swiftKeywords: Set<String> = [
        "associatedtype", "borrowing", "class", "consuming", "deinit", "enum", "extension", "fileprivate",
        "func", "import", "init", "inout", "internal", "let", "nonisolated", "open", "operator", "private",
        "precedencegroup", "protocol", "public", "rethrows", "static", "struct", "subscript", "typealias",
        "var", "break", "case", "catch", "continue", "default", "defer", "do", "else", "fallthrough", "for",
        "guard", "if", "in", "repeat", "return", "throw", "switch", "where", "while", "Any", "as", "await",
        "false", "is", "nil", "super", "throws", "true", "try", "_",
    ]
}
