import CRMProto
import Foundation
import GRDB
import RPCCore
import ServiceRuntime

typealias TicketSettings = Crm_Tickets_V1_TicketSettings
typealias SlaTarget = Crm_Tickets_V1_SlaTarget
typealias OnboardingStep = Crm_Tickets_V1_OnboardingStep
typealias TicketKind = Crm_Tickets_V1_TicketKind
typealias TicketStatus = Crm_Tickets_V1_TicketStatus
typealias TicketPriority = Crm_Tickets_V1_TicketPriority
typealias TicketOrigin = Crm_Tickets_V1_TicketOrigin
typealias SlaState = Crm_Tickets_V1_SlaState

/// What a fresh store starts with: SLA targets per priority and the R9 onboarding line
/// (delivery in 7 days, training in 14, return visit in 30, repurchase check in 300).
enum DefaultSettings {
    static let slaTargets: [SlaTarget] = [
        SlaTarget(priority: .urgent, responseMs: 1 * Millis.hour, resolutionMs: 8 * Millis.hour, warnBeforeMs: 30 * Millis.minute),
        SlaTarget(priority: .high, responseMs: 4 * Millis.hour, resolutionMs: 2 * Millis.day, warnBeforeMs: 2 * Millis.hour),
        SlaTarget(priority: .normal, responseMs: 8 * Millis.hour, resolutionMs: 5 * Millis.day, warnBeforeMs: 4 * Millis.hour),
        SlaTarget(priority: .low, responseMs: 1 * Millis.day, resolutionMs: 10 * Millis.day, warnBeforeMs: 8 * Millis.hour),
    ]

    static let onboardingTemplate: [OnboardingStep] = [
        OnboardingStep(key: "delivery", kind: .delivery, title: "Delivery",
                       details: "Deliver what was signed and confirm acceptance with the customer.",
                       dueAfterDays: 7, priority: .high),
        OnboardingStep(key: "training", kind: .training, title: "Training",
                       details: "Train the customer's users.", dueAfterDays: 14, priority: .normal),
        OnboardingStep(key: "return_visit", kind: .returnVisit, title: "Return visit",
                       details: "Visit the customer, record satisfaction and any repurchase opportunity.",
                       dueAfterDays: 30, priority: .normal),
        OnboardingStep(key: "repurchase_check", kind: .repurchase, title: "Repurchase check",
                       details: "Check whether the customer is ready to buy again.", dueAfterDays: 300, priority: .low),
    ]

    static let sweepIntervalMs: Int64 = 60 * Millis.second

    static let settings = TicketSettings(version: 1, slaTargets: slaTargets, onboardingTemplate: onboardingTemplate,
                                         sweepIntervalMs: sweepIntervalMs)
}

extension TicketSettings {
    /// The target of `priority`; a priority an admin left out of the list keeps its built-in target.
    func target(for priority: TicketPriority) -> SlaTarget {
        slaTargets.first { $0.priority == priority }
            ?? DefaultSettings.slaTargets.first { $0.priority == priority }
            ?? DefaultSettings.slaTargets[2]
    }
}

/// The single settings row, stored as the proto message itself.
enum SettingsStore {
    static func load(_ db: Database) throws -> TicketSettings {
        guard let data = try Data.fetchOne(db, sql: "SELECT body FROM settings WHERE id = 1") else {
            return DefaultSettings.settings
        }
        return try TicketSettings(serializedBytes: Array(data))
    }

    static func save(_ db: Database, _ settings: TicketSettings) throws {
        try db.execute(sql: "INSERT OR REPLACE INTO settings (id, body) VALUES (1, ?)",
                       arguments: [Data(settings.serializedBytes())])
    }
}

/// Checks an UpdateSettings request, naming every offending field.
enum SettingsValidation {
    static let minSweepIntervalMs: Int64 = 1 * Millis.second
    static let maxSweepIntervalMs: Int64 = 1 * Millis.day
    static let maxTargetMs: Int64 = 3650 * Millis.day

    static func validate(_ request: Crm_Tickets_V1_UpdateSettingsRequest) throws {
        var errors = FieldErrors()
        if request.version <= 0 { errors.add("version", "required (the settings version this change is based on)") }
        var seenPriorities = Set<TicketPriority>()
        for (i, target) in request.slaTargets.enumerated() {
            let field = "sla_targets[\(i)]"
            if !TicketFields.isKnown(target.priority) {
                errors.add("\(field).priority", "must be LOW, NORMAL, HIGH or URGENT")
            } else if !seenPriorities.insert(target.priority).inserted {
                errors.add("\(field).priority", "\(target.priority.protoName) listed twice")
            }
            if target.responseMs <= 0 || target.responseMs > maxTargetMs {
                errors.add("\(field).response_ms", "must be between 1 ms and 3650 days")
            }
            if target.resolutionMs <= 0 || target.resolutionMs > maxTargetMs {
                errors.add("\(field).resolution_ms", "must be between 1 ms and 3650 days")
            } else if target.responseMs > target.resolutionMs {
                errors.add("\(field).resolution_ms", "must not be shorter than response_ms")
            }
            if target.warnBeforeMs < 0 || target.warnBeforeMs > maxTargetMs {
                errors.add("\(field).warn_before_ms", "must be between 0 and 3650 days")
            }
        }
        var seenKeys = Set<String>()
        for (i, step) in request.onboardingTemplate.enumerated() {
            let field = "onboarding_template[\(i)]"
            let key = step.key.trimmingCharacters(in: .whitespacesAndNewlines)
            if key.isEmpty { errors.add("\(field).key", "required") }
            else if key.count > 64 { errors.add("\(field).key", "at most 64 characters") }
            else if !seenKeys.insert(key).inserted { errors.add("\(field).key", "'\(key)' listed twice") }
            if !TicketFields.isKnown(step.kind) { errors.add("\(field).kind", "must be a known ticket kind") }
            if step.title.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty { errors.add("\(field).title", "required") }
            errors.maxLength("\(field).title", step.title, TicketFields.maxTitle)
            errors.maxLength("\(field).details", step.details, TicketFields.maxDetails)
            if step.dueAfterDays < 0 || step.dueAfterDays > 3650 {
                errors.add("\(field).due_after_days", "must be between 0 and 3650")
            }
            if step.priority != .unspecified && !TicketFields.isKnown(step.priority) {
                errors.add("\(field).priority", "must be LOW, NORMAL, HIGH or URGENT")
            }
            errors.maxLength("\(field).owner_id", step.ownerId, TicketFields.maxID)
        }
        if let interval = request.sweepIntervalMs, interval < minSweepIntervalMs || interval > maxSweepIntervalMs {
            errors.add("sweep_interval_ms", "must be between 1000 ms and one day")
        }
        try errors.throwIfAny()
    }

    /// The settings after applying a validated request: a non-empty list replaces the whole list.
    static func apply(_ request: Crm_Tickets_V1_UpdateSettingsRequest, to current: TicketSettings) -> TicketSettings {
        var next = current
        next.version = current.version + 1
        if !request.slaTargets.isEmpty {
            next.slaTargets = request.slaTargets.sorted { $0.priority.rawValue > $1.priority.rawValue }
        }
        if !request.onboardingTemplate.isEmpty {
            next.onboardingTemplate = request.onboardingTemplate.map { step in
                var step = step
                step.key = step.key.trimmingCharacters(in: .whitespacesAndNewlines)
                if step.priority == .unspecified { step.priority = .normal }
                return step
            }
        }
        if let interval = request.sweepIntervalMs { next.sweepIntervalMs = interval }
        return next
    }
}
