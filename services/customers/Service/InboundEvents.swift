import CRMProto
import GRDB
import RPCCore
import ServiceRuntime

/// Applies the events crm-customers consumes (events.proto): each lands on the customer's timeline,
/// counts as activity (R7/R8 going dark, churn sweep), keeps the open opportunity / ticket counts, and
/// may move the lifecycle (customers.proto "Event-driven changes"). Runs inside the EventSink's
/// per-event transaction, so an event is applied exactly once together with its inbox row.
enum InboundEvents {
    static let consumed: Set<Crm_Events_V1_EventKind> = [
        .leadConverted, .opportunityCreated, .stageChanged, .dealWon, .dealLost, .followUpRecorded,
        .ticketOpened, .ticketStatusChanged, .ticketClosed,
    ]

    static func apply(_ db: Database, _ event: Event, nowMs: Int64) throws -> EventOutcome {
        guard consumed.contains(event.kind) else { return .ignored }
        let customerID = event.customerId.isEmpty ? (event.leadConverted?.customerId ?? "") : event.customerId
        guard !customerID.isEmpty else {
            throw RPCError(.invalidArgument, "customer_id: required on a \(event.kind.protoName) event")
        }
        guard var stored = try StoredCustomer.load(db, id: customerID) else {
            throw RPCError(.notFound, "customer \(customerID) not found")
        }
        let at = event.occurredAtMs > 0 ? event.occurredAtMs : nowMs
        let actor = event.actorId.isEmpty ? Access.systemUser : event.actorId
        var entry = Audit.entry(.unspecified, customerID: customerID, actor: actor, atMs: at, summary: "", trigger: .event)
        entry.sourceService = event.producer
        entry.eventId = event.eventId
        entry.leadId = event.leadId
        entry.opportunityId = event.opportunityId
        entry.ticketId = event.ticketId
        entry.contactId = event.contactId

        let origin = (stored.customer.leadId, stored.customer.source)
        let fact = try interpret(db, event, stored: &stored, entry: &entry)
        try Audit.record(db, entry)

        var changed = origin != (stored.customer.leadId, stored.customer.source)
        if let target = fact.target, target != stored.customer.lifecycleStatus {
            let transition = LifecycleTransition(
                fromStatus: stored.customer.lifecycleStatus, toStatus: target, actorId: actor, atMs: at,
                reason: fact.reason, trigger: .event, eventId: event.eventId)
            try Audit.changeStatus(db, &stored, transition, sourceService: event.producer,
                                   opportunityID: event.opportunityId, ticketID: event.ticketId)
            changed = true
        }
        stored.customer.lastActivityAtMs = max(stored.customer.lastActivityAtMs, at)
        if stored.customer.churnRisk {
            try ChurnSweep.clear(db, &stored, actor: actor, atMs: at, trigger: .event,
                                 why: "activity: \(event.kind.protoName)")
            changed = true
        }
        stored.customer.openOpportunityCount = Int32(clamping: try Int64.fetchOne(
            db, sql: "SELECT COUNT(*) FROM open_opportunities WHERE customer_id = ?", arguments: [customerID]) ?? 0)
        stored.customer.openTicketCount = Int32(clamping: try Int64.fetchOne(
            db, sql: "SELECT COUNT(*) FROM open_tickets WHERE customer_id = ?", arguments: [customerID]) ?? 0)
        // Activity facts alone do not bump the version (they would make every user edit race with
        // follow-ups); a lifecycle, risk or origin change does, since it changes what the record says.
        if changed {
            stored.customer.version += 1
            stored.customer.updatedAtMs = nowMs
        }
        try stored.save(db)
        return .applied
    }

    /// What an event means for the customer: the timeline entry, open work, and the lifecycle target.
    private struct Fact {
        var target: LifecycleStatus?
        var reason: String
    }

    private static func interpret(_ db: Database, _ event: Event, stored: inout StoredCustomer,
                                  entry: inout TimelineEntry) throws -> Fact {
        let current = stored.customer.lifecycleStatus
        func forward(_ status: LifecycleStatus?) -> LifecycleStatus? {
            guard let status, Lifecycle.eventMayMove(from: current, to: status) else { return nil }
            return status
        }
        switch event.kind {
        case .leadConverted:
            let p = event.leadConverted ?? .init()
            entry.kind = .leadConverted
            entry.summary = "Converted from lead \(event.leadId)"
            if stored.customer.leadId.isEmpty { stored.customer.leadId = event.leadId }
            if stored.customer.source == .unspecified { stored.customer.source = p.source }
            return Fact(target: current == .new ? .interested : nil, reason: "lead converted")

        case .opportunityCreated:
            let p = event.opportunityCreated ?? .init()
            entry.kind = .opportunityCreated
            entry.summary = "Opportunity '\(p.title)' created at \(Names.stage(p.stage))"
            try openOpportunity(db, event.opportunityId, customerID: stored.customer.id)
            return Fact(target: forward(Lifecycle.status(forStage: p.stage)), reason: "opportunity created at \(Names.stage(p.stage))")

        case .stageChanged:
            let p = event.stageChanged ?? .init()
            entry.kind = .stageChanged
            entry.summary = "Stage \(Names.stage(p.fromStage)) → \(Names.stage(p.toStage))"
                + (p.reason.isEmpty ? "" : ": \(p.reason)")
            return Fact(target: forward(Lifecycle.status(forStage: p.toStage)), reason: "opportunity stage \(Names.stage(p.toStage))")

        case .dealWon:
            let p = event.dealWon ?? .init()
            entry.kind = .dealWon
            entry.summary = "Deal '\(p.title)' won" + Names.money(p.signedAmountCents, p.currency)
            try closeOpportunity(db, event.opportunityId)
            return Fact(target: forward(.won), reason: "deal won")

        case .dealLost:
            let p = event.dealLost ?? .init()
            let review = p.review ?? .init()
            entry.kind = .dealLost
            let lostTo = review.competitor.isEmpty ? review.lostTo.protoName.replacingOccurrences(of: "LOST_TO_", with: "").lowercased()
                : review.competitor
            entry.summary = "Deal '\(p.title)' lost to \(lostTo) at \(Names.stage(p.lostAtStage))"
                + (review.reasonDetail.isEmpty ? "" : ": \(review.reasonDetail)")
            try closeOpportunity(db, event.opportunityId)
            return Fact(target: nil, reason: "")

        case .followUpRecorded:
            let p = event.followUpRecorded ?? .init()
            entry.kind = .followUp
            entry.followUpId = p.followUpId.isEmpty ? event.aggregateId : p.followUpId
            entry.summary = "\(Names.activity(p.type)): \(p.conclusion)" + (p.nextStep.isEmpty ? "" : "; next: \(p.nextStep)")
            if p.occurredAtMs > 0 { entry.atMs = p.occurredAtMs }
            return Fact(target: nil, reason: "")

        case .ticketOpened:
            let p = event.ticketOpened ?? .init()
            entry.kind = .ticketOpened
            entry.summary = "\(Names.ticketKind(p.kind)) ticket '\(p.title)' opened"
            try openTicket(db, event.ticketId, customerID: stored.customer.id, kind: p.kind)
            return Fact(target: nil, reason: "")

        case .ticketStatusChanged:
            let p = event.ticketStatusChanged ?? .init()
            entry.kind = .ticketStatusChanged
            entry.summary = "\(Names.ticketKind(p.kind)) ticket \(Names.ticketStatus(p.fromStatus)) → \(Names.ticketStatus(p.toStatus))"
            if p.toStatus == .resolved || p.toStatus == .closed {
                try closeTicket(db, event.ticketId)
            } else {
                try openTicket(db, event.ticketId, customerID: stored.customer.id, kind: p.kind)
            }
            let delivered = p.kind == .delivery && p.toStatus == .resolved && current != .existing
            return Fact(target: delivered ? .existing : nil, reason: "delivery resolved (R9)")

        case .ticketClosed:
            let p = event.ticketClosed ?? .init()
            entry.kind = .ticketClosed
            entry.summary = "\(Names.ticketKind(p.kind)) ticket '\(p.title)' closed" + (p.resolution.isEmpty ? "" : ": \(p.resolution)")
            try closeTicket(db, event.ticketId)
            let delivered = p.kind == .delivery && current != .existing
            return Fact(target: delivered ? .existing : nil, reason: "delivery closed (R9)")

        default:
            return Fact(target: nil, reason: "")
        }
    }

    private static func openOpportunity(_ db: Database, _ id: String, customerID: String) throws {
        guard !id.isEmpty else { return }
        try db.execute(sql: "INSERT OR IGNORE INTO open_opportunities (opportunity_id, customer_id) VALUES (?, ?)",
                       arguments: [id, customerID])
    }

    private static func closeOpportunity(_ db: Database, _ id: String) throws {
        try db.execute(sql: "DELETE FROM open_opportunities WHERE opportunity_id = ?", arguments: [id])
    }

    private static func openTicket(_ db: Database, _ id: String, customerID: String, kind: Crm_Tickets_V1_TicketKind) throws {
        guard !id.isEmpty else { return }
        try db.execute(sql: "INSERT OR IGNORE INTO open_tickets (ticket_id, customer_id, kind) VALUES (?, ?, ?)",
                       arguments: [id, customerID, kind.rawValue])
    }

    private static func closeTicket(_ db: Database, _ id: String) throws {
        try db.execute(sql: "DELETE FROM open_tickets WHERE ticket_id = ?", arguments: [id])
    }
}
