import CRMProto
import GRDB
import RPCCore
import ServiceRuntime

typealias CustomerSettings = Crm_Customers_V1_CustomerSettings

/// crm-customers configuration (one row): going-dark and churn-risk thresholds and the sweep interval.
enum SettingsStore {
    static func load(_ db: Database) throws -> CustomerSettings {
        guard let row = try Row.fetchOne(db, sql: "SELECT * FROM settings WHERE id = 1") else {
            return CustomerSettings(version: 0, darkAfterDays: SettingsDefaults.darkAfterDays,
                                    churnRiskAfterDays: SettingsDefaults.churnRiskAfterDays,
                                    sweepIntervalMs: SettingsDefaults.sweepIntervalMs, defaultPhoneRegion: "")
        }
        return CustomerSettings(version: row["version"], darkAfterDays: row["dark_after_days"],
                                churnRiskAfterDays: row["churn_risk_after_days"], sweepIntervalMs: row["sweep_interval_ms"],
                                defaultPhoneRegion: row["default_phone_region"])
    }

    /// Validates an UpdateSettings request against the current settings and returns the new settings.
    static func apply(_ request: Crm_Customers_V1_UpdateSettingsRequest, to current: CustomerSettings) throws -> CustomerSettings {
        var errors = FieldErrors()
        if request.version <= 0 { errors.add("version", "required (the settings version being changed)") }
        var next = current
        if let days = request.darkAfterDays {
            if !(1...3650).contains(days) { errors.add("dark_after_days", "must be 1 to 3650, got \(days)") }
            next.darkAfterDays = days
        }
        if let days = request.churnRiskAfterDays {
            if !(1...3650).contains(days) { errors.add("churn_risk_after_days", "must be 1 to 3650, got \(days)") }
            next.churnRiskAfterDays = days
        }
        if let interval = request.sweepIntervalMs {
            if !(1000...(7 * Millis.day)).contains(interval) {
                errors.add("sweep_interval_ms", "must be 1000 ms to 7 days, got \(interval)")
            }
            next.sweepIntervalMs = interval
        }
        if let region = request.defaultPhoneRegion {
            let valid = region.isEmpty || (region.count == 2 && region.unicodeScalars.allSatisfy { ("A"..."Z").contains($0) })
            if !valid { errors.add("default_phone_region", "must be empty or an ISO 3166 code like \"DE\", got \"\(region)\"") }
            next.defaultPhoneRegion = region
        }
        try errors.throwIfAny()
        try Access.checkVersion(request.version, current: current.version, record: "settings")
        next.version = current.version + 1
        return next
    }

    static func save(_ db: Database, _ settings: CustomerSettings) throws {
        try db.execute(sql: """
            UPDATE settings SET version = ?, dark_after_days = ?, churn_risk_after_days = ?, sweep_interval_ms = ?,
                                default_phone_region = ?
            WHERE id = 1
            """, arguments: [settings.version, settings.darkAfterDays, settings.churnRiskAfterDays,
                             settings.sweepIntervalMs, settings.defaultPhoneRegion])
    }
}
