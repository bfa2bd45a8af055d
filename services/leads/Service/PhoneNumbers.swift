import ServiceRuntime

/// Phone normalisation to E.164 for R1: `+` and digits. A number written with `+` or the international
/// `00` prefix keeps its country code; a national number gets the configured default region's
/// calling code (its trunk `0` dropped). Without a default region a national number is kept as digits.
enum PhoneNumbers {
    static func normalize(_ raw: String, defaultRegion: String) -> String? {
        guard let cleaned = ContactPoint.normalizePhone(raw) else { return nil }
        if cleaned.hasPrefix("+") { return cleaned }
        if cleaned.hasPrefix("00") {
            let international = String(cleaned.dropFirst(2))
            return (7...15).contains(international.count) ? "+" + international : nil
        }
        guard let code = callingCode(region: defaultRegion) else { return cleaned }
        var national = Substring(cleaned)
        if national.hasPrefix("0") { national = national.dropFirst() }
        let e164 = code + national
        return (7...15).contains(e164.count) ? "+" + e164 : nil
    }

    /// ITU calling codes of the regions a default can name (ISO 3166 alpha-2).
    static func callingCode(region: String) -> String? { codes[region.uppercased()] }

    private static let codes: [String: String] = [
        "AR": "54", "AT": "43", "AU": "61", "BE": "32", "BG": "359", "BR": "55", "CA": "1", "CH": "41",
        "CL": "56", "CN": "86", "CO": "57", "CZ": "420", "DE": "49", "DK": "45", "EE": "372", "EG": "20",
        "ES": "34", "FI": "358", "FR": "33", "GB": "44", "GR": "30", "HK": "852", "HR": "385", "HU": "36",
        "ID": "62", "IE": "353", "IL": "972", "IN": "91", "IT": "39", "JP": "81", "KR": "82", "LT": "370",
        "LU": "352", "LV": "371", "MX": "52", "MY": "60", "NG": "234", "NL": "31", "NO": "47", "NZ": "64",
        "PH": "63", "PL": "48", "PT": "351", "RO": "40", "RS": "381", "RU": "7", "SA": "966", "SE": "46",
        "SG": "65", "SI": "386", "SK": "421", "TH": "66", "TR": "90", "TW": "886", "UA": "380", "AE": "971",
        "US": "1", "VN": "84", "ZA": "27",
    ]
}
