import CRMProto

/// PRODUCT.md line 2, the customer lifecycle: which manual moves are allowed, which need a reason,
/// what each status asks the salesperson to do next, and how other services' events move it.
enum Lifecycle {
    /// Allowed manual transitions (customers.proto, ChangeLifecycle).
    static let manualTransitions: [LifecycleStatus: [LifecycleStatus]] = [
        .new: [.interested, .followingUp, .churned],
        .interested: [.followingUp, .quoting, .churned],
        .followingUp: [.interested, .quoting, .negotiating, .churned],
        .quoting: [.followingUp, .negotiating, .won, .churned],
        .negotiating: [.followingUp, .quoting, .won, .churned],
        .won: [.existing, .churned],
        .existing: [.churned],
        .churned: [.interested, .followingUp],
    ]

    static func allowedTransitions(from status: LifecycleStatus) -> [LifecycleStatus] {
        manualTransitions[status] ?? []
    }

    /// Position on the line new → … → churned; moving to a lower position is a backward move.
    static func rank(_ status: LifecycleStatus) -> Int {
        switch status {
        case .new: 1
        case .interested: 2
        case .followingUp: 3
        case .quoting: 4
        case .negotiating: 5
        case .won: 6
        case .existing: 7
        case .churned: 8
        default: 0
        }
    }

    /// Backward moves (including a win back out of CHURNED) and CHURNED itself need a reason.
    static func needsReason(from: LifecycleStatus, to: LifecycleStatus) -> Bool {
        to == .churned || rank(to) < rank(from)
    }

    /// "Status decides the next action" (PRODUCT.md line 2).
    static func nextAction(for status: LifecycleStatus) -> Crm_Customers_V1_NextAction {
        switch status {
        case .new: .init(kind: .makeContact, text: "Make contact")
        case .interested: .init(kind: .digIntoNeeds, text: "Dig into needs")
        case .followingUp: .init(kind: .moveToQuote, text: "Confirm the solution and move to a quote")
        case .quoting: .init(kind: .mapDecisionChain, text: "Identify key people and the decision chain")
        case .negotiating: .init(kind: .proposalTrialDemo, text: "Proposal, trial or demo unit")
        case .won: .init(kind: .startDelivery, text: "Start delivery, training and service (R9)")
        case .existing: .init(kind: .repurchase, text: "Drive repurchase")
        case .churned: .init(kind: .winBack, text: "Win back")
        default: .init()
        }
    }

    /// The lifecycle status an opportunity stage implies (customers.proto, event-driven changes).
    static func status(forStage stage: Crm_Opportunities_V1_Stage) -> LifecycleStatus? {
        switch stage {
        case .needsConfirmed, .solutionFit: .followingUp
        case .quote: .quoting
        case .negotiation, .contract: .negotiating
        default: nil
        }
    }

    /// Whether an event may move `current` to `proposed`: forward only, never out of WON or EXISTING,
    /// and from CHURNED any move is a win back.
    static func eventMayMove(from current: LifecycleStatus, to proposed: LifecycleStatus) -> Bool {
        if current == proposed { return false }
        if current == .won || current == .existing { return false }
        if current == .churned { return true }
        return rank(proposed) > rank(current)
    }

    /// Short name for messages ("QUOTING").
    static func name(_ status: LifecycleStatus) -> String {
        status.protoName.replacingOccurrences(of: "LIFECYCLE_STATUS_", with: "")
    }
}
