import Foundation
import CRMProto
import GRDB
import RPCCore
import ServiceRuntime

/// crm-leads configuration: R2 thresholds ("thresholds are configuration"), the claim cap, the phone
/// region assumed at intake and the sweep period. One row, optimistic by version.
struct LeadSettingsValues: Sendable, Equatable {
    var version: Int64
    var activationWindowMs: Int64
    var warningBeforeMs: Int64
    var claimCap: Int32
    var defaultPhoneRegion: String
    var sweepIntervalMs: Int64

    static let defaults = LeadSettingsValues(
        version: 1, activationWindowMs: 24 * Millis.hour, warningBeforeMs: 4 * Millis.hour,
        claimCap: 20, defaultPhoneRegion: "", sweepIntervalMs: Millis.minute)

    static func load(_ db: Database) throws -> LeadSettingsValues {
        guard let row = try Row.fetchOne(db.cachedStatement(sql: "SELECT * FROM settings WHERE id = 1")) else { return .defaults }
        return LeadSettingsValues(
            version: row["version"], activationWindowMs: row["activation_window_ms"],
            warningBeforeMs: row["warning_before_ms"], claimCap: row["claim_cap"],
            defaultPhoneRegion: row["default_phone_region"], sweepIntervalMs: row["sweep_interval_ms"])
    }

    func save(_ db: Database) throws {
        try db.execute(sql: """
            UPDATE settings SET version = ?, activation_window_ms = ?, warning_before_ms = ?, claim_cap = ?,
                                default_phone_region = ?, sweep_interval_ms = ?
            WHERE id = 1
            """, arguments: [version, activationWindowMs, warningBeforeMs, claimCap, defaultPhoneRegion, sweepIntervalMs])
    }

    var proto: Crm_Leads_V1_LeadSettings {
        Crm_Leads_V1_LeadSettings(
            version: version, activationWindowMs: activationWindowMs, warningBeforeMs: warningBeforeMs,
            claimCap: claimCap, defaultPhoneRegion: defaultPhoneRegion, sweepIntervalMs: sweepIntervalMs)
    }

    /// Applies the set fields of an UpdateSettings request; INVALID_ARGUMENT names every bad value.
    func applying(_ request: Crm_Leads_V1_UpdateSettingsRequest) throws -> LeadSettingsValues {
        var next = self
        var errors = FieldErrors()
        if let window = request.activationWindowMs {
            if window < Millis.minute || window > 30 * Millis.day {
                errors.add("activation_window_ms", "must be between 1 minute and 30 days, got \(window)")
            }
            next.activationWindowMs = window
        }
        if let warning = request.warningBeforeMs {
            if warning < 0 { errors.add("warning_before_ms", "must not be negative") }
            next.warningBeforeMs = warning
        }
        if next.warningBeforeMs >= next.activationWindowMs {
            errors.add("warning_before_ms", "must be shorter than activation_window_ms (\(next.activationWindowMs))")
        }
        if let cap = request.claimCap {
            if cap < 1 || cap > 10_000 { errors.add("claim_cap", "must be between 1 and 10000, got \(cap)") }
            next.claimCap = cap
        }
        if let region = request.defaultPhoneRegion {
            let normalized = region.trimmingCharacters(in: .whitespaces).uppercased()
            if !normalized.isEmpty, PhoneNumbers.callingCode(region: normalized) == nil {
                errors.add("default_phone_region", "unknown region '\(region)' (ISO 3166 alpha-2, e.g. DE)")
            }
            next.defaultPhoneRegion = normalized
        }
        if let interval = request.sweepIntervalMs {
            if interval < Millis.second || interval > Millis.day {
                errors.add("sweep_interval_ms", "must be between 1 second and 1 day, got \(interval)")
            }
            next.sweepIntervalMs = interval
        }
        try errors.throwIfAny()
        return next
    }
}
