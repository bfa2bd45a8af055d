import CRMProto
import Foundation
import GRDB
import RPCCore
import ServiceRuntime

typealias Event = Crm_Events_V1_Event

/// Turns the events crm-opportunities and crm-leads publish into crm-forecast's facts (events.proto:
/// crm-forecast consumes LEAD_*, OPPORTUNITY_CREATED, STAGE_CHANGED, DEAL_WON, DEAL_LOST,
/// FOLLOW_UP_RECORDED, RISK_CHANGED). History rows are keyed so a fact seen both as an event and
/// through the export feed is stored once.
enum EventFacts {
    /// Everything that makes an event permanently unprocessable (REJECTED), checked before any
    /// write so a batch never has to undo half an event.
    static func check(_ event: Event) throws {
        func require(_ present: Bool) throws {
            if !present { throw RPCError(.invalidArgument, "\(event.kind.protoName): payload missing") }
        }
        switch event.kind {
        case .opportunityCreated: try require(event.opportunityCreated != nil)
        case .stageChanged: try require(event.stageChanged != nil)
        case .dealWon: try require(event.dealWon != nil)
        case .dealLost: try require(event.dealLost != nil)
        case .followUpRecorded: try require(event.followUpRecorded != nil)
        case .riskChanged: try require(event.riskChanged != nil)
        case .leadCreated: try require(event.leadCreated != nil)
        case .leadAssigned: try require(event.leadAssigned != nil)
        case .leadActivated: try require(event.leadActivated != nil)
        case .leadReclaimed, .leadDisqualified, .leadConverted: break
        case .unrecognized(let number): throw RPCError(.invalidArgument, "kind: unknown event kind \(number)")
        default: return
        }
        try Bounds.instant("occurred_at_ms", event.occurredAtMs)
        if let p = event.opportunityCreated { try Bounds.amount("opportunity_created.amount_cents", p.amountCents) }
        if let p = event.stageChanged {
            try Bounds.amount("stage_changed.amount_cents", p.amountCents)
            try Bounds.instant("stage_changed.time_in_from_stage_ms", p.timeInFromStageMs)
        }
        if let p = event.dealWon { try Bounds.amount("deal_won.signed_amount_cents", p.signedAmountCents) }
        if let p = event.dealLost { try Bounds.amount("deal_lost.amount_cents", p.amountCents) }
        if let p = event.followUpRecorded {
            try Bounds.instant("follow_up_recorded.occurred_at_ms", p.occurredAtMs)
            try Bounds.instant("follow_up_recorded.next_step_due_ms", p.nextStepDueMs)
        }
        if let p = event.leadAssigned { try Bounds.instant("lead_assigned.activation_deadline_ms", p.activationDeadlineMs) }
        if let p = event.leadActivated { try Bounds.instant("lead_activated.activated_at_ms", p.activatedAtMs) }
        switch event.kind {
        case .leadCreated, .leadAssigned, .leadActivated, .leadReclaimed, .leadDisqualified, .leadConverted:
            _ = try LeadFacts.leadID(event)
        case .followUpRecorded:
            break  // a follow-up may belong to a customer only
        default:
            _ = try opportunityID(event)
        }
    }

    /// Applies a checked event. Errors here are storage failures, not bad events.
    static func apply(_ tx: DealTransaction, _ event: Event) throws -> EventOutcome {
        switch event.kind {
        case .opportunityCreated: try opportunityCreated(tx, event)
        case .stageChanged: try stageChanged(tx, event)
        case .dealWon: try dealWon(tx, event)
        case .dealLost: try dealLost(tx, event)
        case .followUpRecorded: try followUpRecorded(tx, event)
        case .riskChanged: try riskChanged(tx, event)
        case .leadCreated, .leadAssigned, .leadActivated, .leadReclaimed, .leadDisqualified, .leadConverted:
            try LeadFacts.apply(tx.db, event)
        default:
            return .ignored  // other services' events carry nothing the results module counts
        }
        return .applied
    }

    // MARK: Opportunities

    static func opportunityID(_ event: Event) throws -> String {
        let id = event.opportunityId.isEmpty && event.aggregateType == .opportunity ? event.aggregateId : event.opportunityId
        guard !id.isEmpty else { throw RPCError(.invalidArgument, "opportunity_id: required for \(event.kind.protoName)") }
        return id
    }

    /// The deal an event is about, or a new one when this event is the first news of it.
    private static func current(_ tx: DealTransaction, _ event: Event) throws -> Deal {
        let id = try opportunityID(event)
        if let deal = tx.deal(id) { return deal }
        var deal = Deal(id: id)
        deal.createdMs = event.occurredAtMs
        deal.stageEnteredMs = event.occurredAtMs
        return deal
    }

    /// Whether the event is newer than the facts (the export feed may already have shown a later
    /// version); history is recorded either way, current-state fields only when newer.
    private static func isNewer(_ event: Event, than deal: Deal) -> Bool {
        event.aggregateType != .opportunity || event.aggregateVersion == 0 || event.aggregateVersion > deal.aggregateVersion
    }

    private static func stamp(_ deal: inout Deal, _ event: Event) {
        if event.aggregateType == .opportunity, event.aggregateVersion > deal.aggregateVersion {
            deal.aggregateVersion = event.aggregateVersion
        }
        if !event.customerId.isEmpty { deal.customerID = event.customerId }
        if !event.leadId.isEmpty { deal.leadID = event.leadId }
        let team = event.teamId.isEmpty ? event.actorTeamId : event.teamId
        if !team.isEmpty, deal.teamID.isEmpty || !event.teamId.isEmpty { deal.teamID = team }
        deal.updatedMs = max(deal.updatedMs, event.occurredAtMs)
    }

    private static func opportunityCreated(_ tx: DealTransaction, _ event: Event) throws {
        guard let payload = event.opportunityCreated else { throw missingPayload(event) }
        let isFirstNews = tx.deal(try opportunityID(event)) == nil
        var deal = try current(tx, event)
        let initialStage = payload.stage.isOpenStage ? payload.stage : .relationship
        if isFirstNews || isNewer(event, than: deal) {
            deal.title = payload.title
            deal.ownerID = payload.ownerId
            deal.amountCents = payload.amountCents
            deal.currency = payload.currency
            deal.expectedCloseDate = payload.expectedCloseDate
            deal.source = payload.source.rawValue
            if isFirstNews {
                deal.stage = initialStage
                deal.stageEnteredMs = event.occurredAtMs
            }
            deal.createdMs = event.occurredAtMs
            if initialStage.isAtLeast(.quote) { deal.quoted = true }
            stamp(&deal, event)
        }
        try tx.save(deal)
        // Created in a stage counts as entering it (funnel "entered").
        try StageHistory.record(tx.db, opportunityID: deal.id, atMs: event.occurredAtMs, from: .unspecified,
                                to: initialStage, backwards: false, timeInFromMs: 0, actor: event.actorId)
    }

    private static func stageChanged(_ tx: DealTransaction, _ event: Event) throws {
        guard let payload = event.stageChanged else { throw missingPayload(event) }
        var deal = try current(tx, event)
        if isNewer(event, than: deal), deal.isOpen, payload.toStage.isOpenStage {
            deal.stage = payload.toStage
            deal.stageEnteredMs = event.occurredAtMs
            if payload.toStage.isAtLeast(.quote) { deal.quoted = true }  // R4: the quote gate was passed
            if !payload.ownerId.isEmpty { deal.ownerID = payload.ownerId }
            if payload.amountCents > 0 { deal.amountCents = payload.amountCents }
            if !payload.currency.isEmpty { deal.currency = payload.currency }
            deal.lastActionMs = max(deal.lastActionMs, event.occurredAtMs)
            stamp(&deal, event)
        }
        try tx.save(deal)
        try StageHistory.record(tx.db, opportunityID: deal.id, atMs: event.occurredAtMs, from: payload.fromStage,
                                to: payload.toStage, backwards: payload.backwards,
                                timeInFromMs: payload.timeInFromStageMs, actor: event.actorId)
    }

    private static func dealWon(_ tx: DealTransaction, _ event: Event) throws {
        guard let payload = event.dealWon else { throw missingPayload(event) }
        var deal = try current(tx, event)
        let fromStage = payload.wonFromStage.isOpenStage ? payload.wonFromStage : deal.stage
        if deal.isOpen || isNewer(event, than: deal) {
            if deal.closing == nil, deal.isOpen { deal.closing = deal.closingFacts(at: event.occurredAtMs, fromStage: fromStage) }
            deal.status = .won
            deal.stage = .won
            deal.closedFromStage = fromStage
            deal.closedMs = event.occurredAtMs
            deal.stageEnteredMs = event.occurredAtMs
            deal.signedAmountCents = payload.signedAmountCents
            deal.signedDate = payload.signedDate
            if !payload.title.isEmpty { deal.title = payload.title }
            if !payload.ownerId.isEmpty { deal.ownerID = payload.ownerId }
            if !payload.teamId.isEmpty { deal.teamID = payload.teamId }
            if !payload.currency.isEmpty { deal.currency = payload.currency }
            if !payload.customerName.isEmpty { deal.customerName = payload.customerName }
            if payload.source != .unspecified { deal.source = payload.source.rawValue }
            if deal.amountCents == 0 { deal.amountCents = payload.signedAmountCents }
            deal.riskYellow = 0
            deal.riskRed = 0
            stamp(&deal, event)
        }
        try tx.save(deal)
        try StageHistory.record(tx.db, opportunityID: deal.id, atMs: event.occurredAtMs, from: fromStage, to: .won,
                                backwards: false, timeInFromMs: 0, actor: event.actorId)
    }

    private static func dealLost(_ tx: DealTransaction, _ event: Event) throws {
        guard let payload = event.dealLost else { throw missingPayload(event) }
        var deal = try current(tx, event)
        let fromStage = payload.lostAtStage.isOpenStage ? payload.lostAtStage : deal.stage
        if deal.isOpen || isNewer(event, than: deal) {
            if deal.closing == nil, deal.isOpen { deal.closing = deal.closingFacts(at: event.occurredAtMs, fromStage: fromStage) }
            deal.status = .lost
            deal.stage = .lost
            deal.closedFromStage = fromStage
            deal.closedMs = event.occurredAtMs
            deal.stageEnteredMs = event.occurredAtMs
            deal.lossReview = payload.review
            if !payload.title.isEmpty { deal.title = payload.title }
            if !payload.ownerId.isEmpty { deal.ownerID = payload.ownerId }
            if !payload.teamId.isEmpty { deal.teamID = payload.teamId }
            if payload.amountCents > 0 { deal.amountCents = payload.amountCents }
            if !payload.currency.isEmpty { deal.currency = payload.currency }
            if payload.source != .unspecified { deal.source = payload.source.rawValue }
            deal.riskYellow = 0
            deal.riskRed = 0
            stamp(&deal, event)
        }
        try tx.save(deal)
        try StageHistory.record(tx.db, opportunityID: deal.id, atMs: event.occurredAtMs, from: fromStage, to: .lost,
                                backwards: false, timeInFromMs: 0, actor: event.actorId)
    }

    private static func followUpRecorded(_ tx: DealTransaction, _ event: Event) throws {
        guard let payload = event.followUpRecorded else { throw missingPayload(event) }
        let followUpID = payload.followUpId.isEmpty ? (event.aggregateType == .followUp ? event.aggregateId : event.eventId)
                                                    : payload.followUpId
        let occurred = payload.occurredAtMs > 0 ? payload.occurredAtMs : event.occurredAtMs
        let team = event.teamId.isEmpty ? event.actorTeamId : event.teamId
        let owner = payload.ownerId.isEmpty ? event.actorId : payload.ownerId
        try tx.db.execute(sql: """
            INSERT OR IGNORE INTO follow_up (id, opportunity_id, customer_id, owner_id, team_id, type, face_to_face,
                                             key_person_met, occurred_ms)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
            """, arguments: [followUpID, event.opportunityId, event.customerId, owner, team, payload.type.rawValue,
                             payload.faceToFace, payload.keyPersonMet, occurred])
        guard tx.db.changesCount > 0, !event.opportunityId.isEmpty else { return }
        var deal = try current(tx, event)
        let alreadyCounted = deal.syncedAtMs >= occurred && deal.lastFollowUpMs >= occurred
        deal.addFollowUpTime(occurred)
        if !alreadyCounted { deal.followUpCount += 1 }
        deal.firstFollowUpMs = deal.firstFollowUpMs == 0 ? occurred : min(deal.firstFollowUpMs, occurred)
        if occurred >= deal.lastFollowUpMs {
            deal.lastFollowUpMs = occurred
            if payload.nextStepDueMs > 0 { deal.nextStepDueMs = payload.nextStepDueMs }
        }
        deal.lastActionMs = max(deal.lastActionMs, occurred)
        if payload.faceToFace { deal.faceToFaceHeld = true }
        if payload.keyPersonMet { deal.keyPersonMet = true }
        if deal.ownerID.isEmpty { deal.ownerID = owner }
        if deal.teamID.isEmpty { deal.teamID = team }
        deal.updatedMs = max(deal.updatedMs, occurred)
        try tx.save(deal)
    }

    private static func riskChanged(_ tx: DealTransaction, _ event: Event) throws {
        guard let payload = event.riskChanged else { throw missingPayload(event) }
        var deal = try current(tx, event)
        let levels = Dictionary(payload.reasons.map { ($0.kind.rawValue, $0.level) }, uniquingKeysWith: { a, _ in a })
        for kind in payload.raised {
            try RiskHistory.raise(tx.db, opportunityID: deal.id, kind: kind, level: levels[kind.rawValue] ?? payload.toLevel,
                                  atMs: event.occurredAtMs)
        }
        for kind in payload.cleared {
            try RiskHistory.clear(tx.db, opportunityID: deal.id, kind: kind, atMs: event.occurredAtMs)
        }
        if isNewer(event, than: deal), deal.isOpen {
            deal.riskLevel = payload.toLevel
            deal.riskYellow = Int32(payload.reasons.filter { $0.level == .yellow }.count)
            deal.riskRed = Int32(payload.reasons.filter { $0.level == .red }.count)
            // The key-person flags are R8's reading of the key-person facts (R11).
            let open = Set(payload.reasons.map(\.kind))
            if open.contains(.keyPersonMissing) || open.contains(.keyPersonUnconfirmed) {
                deal.keyPersonConfirmed = false
            } else if payload.cleared.contains(.keyPersonUnconfirmed) {
                deal.keyPersonConfirmed = true
            }
            deal.keyPersonPresent = !open.contains(.keyPersonMissing)
            if !payload.ownerId.isEmpty, deal.ownerID.isEmpty { deal.ownerID = payload.ownerId }
            stamp(&deal, event)
        }
        try tx.save(deal)
    }

    private static func missingPayload(_ event: Event) -> RPCError {
        RPCError(.invalidArgument, "\(event.kind.protoName): payload missing")
    }
}

/// Stage moves (R4), one row per move: the base of funnel conversion, time in stage and R12 "advanced".
enum StageHistory {
    static func record(_ db: Database, opportunityID: String, atMs: Int64, from: Stage, to: Stage, backwards: Bool,
                       timeInFromMs: Int64, actor: String) throws {
        try FastStatement(db, sql: """
            INSERT OR IGNORE INTO stage_change (opportunity_id, at_ms, to_stage, from_stage, backwards, time_in_from_ms, actor_id)
            VALUES (?, ?, ?, ?, ?, ?, ?)
            """).execute { b in
            b.text(opportunityID); b.int(atMs); b.int(to.rawValue); b.int(from.rawValue); b.bool(backwards)
            b.int(max(timeInFromMs, 0)); b.text(actor)
        }
    }
}

/// R8 flags as raised and cleared over time (R12 "risks identified, and whether they were cleared").
enum RiskHistory {
    static func raise(_ db: Database, opportunityID: String, kind: Crm_Opportunities_V1_RiskKind,
                      level: RiskLevel, atMs: Int64) throws {
        // A flag already open for this kind stays the same flag (its level may change).
        if let raised = try Int64.fetchOne(db, sql: """
            SELECT raised_ms FROM risk_flag WHERE opportunity_id = ? AND kind = ? AND cleared_ms = 0
            """, arguments: [opportunityID, kind.rawValue]) {
            try db.execute(sql: "UPDATE risk_flag SET level = MAX(level, ?) WHERE opportunity_id = ? AND kind = ? AND raised_ms = ?",
                           arguments: [level.rawValue, opportunityID, kind.rawValue, raised])
            return
        }
        try db.execute(sql: """
            INSERT OR IGNORE INTO risk_flag (opportunity_id, kind, raised_ms, level, cleared_ms) VALUES (?, ?, ?, ?, 0)
            """, arguments: [opportunityID, kind.rawValue, atMs, level.rawValue])
    }

    static func clear(_ db: Database, opportunityID: String, kind: Crm_Opportunities_V1_RiskKind, atMs: Int64) throws {
        try db.execute(sql: """
            UPDATE risk_flag SET cleared_ms = ? WHERE opportunity_id = ? AND kind = ? AND cleared_ms = 0
            """, arguments: [atMs, opportunityID, kind.rawValue])
    }
}
