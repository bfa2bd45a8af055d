import CRMProto
import RPCCore
import ServiceRuntime

/// What a combined view needs to ask the owners of the data on the caller's behalf: typed clients
/// over the backend channels, the caller's identity, and a time budget inside the client's deadline
/// so partial results still arrive before the client gives up.
struct Fanout: Sendable {
    let backends: Backends
    let caller: Caller
    let serviceToken: String
    let budget: Duration

    /// Default time a section may take when the client set no deadline.
    static let defaultBudget: Duration = .seconds(5)

    init(backends: Backends, caller: Caller, serviceToken: String, context: ServerContext) throws {
        self.backends = backends
        self.caller = caller
        self.serviceToken = serviceToken
        var budget = Self.defaultBudget
        if let remaining = context.timeRemaining {
            guard remaining > .zero else { throw RPCError(.deadlineExceeded, "deadline exceeded before the view started") }
            // Keep a fifth (at most 200 ms) to assemble and send the answer.
            budget = min(budget, remaining - min(remaining / 5, .milliseconds(200)))
        }
        self.budget = budget
    }

    var options: CallOptions { CallOptions(timeout: budget, metadata: caller.metadata(serviceToken: serviceToken)) }

    var leads: Crm_Leads_V1_LeadServiceClient { .init(channel: backends.channel(.leads)) }
    var customers: Crm_Customers_V1_CustomerServiceClient { .init(channel: backends.channel(.customers)) }
    var opportunities: Crm_Opportunities_V1_OpportunityServiceClient { .init(channel: backends.channel(.opportunities)) }
    var tickets: Crm_Tickets_V1_TicketServiceClient { .init(channel: backends.channel(.tickets)) }
    var forecast: Crm_Forecast_V1_ForecastServiceClient { .init(channel: backends.channel(.forecast)) }

    /// Runs one section of a view; a failure becomes the SourceError that names it (never a silent gap).
    func section<T: Sendable>(_ backend: BackendID, _ name: String,
                              _ body: @Sendable () async throws -> T) async -> Section<T> {
        do {
            let value = try await body()
            backends.markReachable(backend)
            return Section(value: value, failure: nil)
        } catch {
            let status = Self.status(of: error)
            if status.code == .unavailable { backends.markUnreachable(backend, status) } else { backends.markReachable(backend) }
            return Section(value: nil, failure: SectionFailure(status: status, source: Crm_Gateway_V1_SourceError(
                backend: backend.proto, section: name, code: Int32(status.code.rawValue),
                codeName: status.code.description, message: status.message)))
        }
    }

    static func status(of error: any Error) -> RPCError {
        switch error {
        case let status as RPCError: status
        case is CancellationError: RPCError(.cancelled, "the view was cancelled")
        default: RPCError(.internal, "\(error)")
        }
    }

    /// Every page of a list, up to `maxItems`, for counts that must cover more than one page.
    static func allPages<Item: Sendable>(maxItems: Int = 5_000,
                                         _ page: (_ token: String) async throws -> (items: [Item], next: String)) async throws -> [Item] {
        var items: [Item] = []
        var token = ""
        repeat {
            let (batch, next) = try await page(token)
            items.append(contentsOf: batch)
            token = next
        } while !token.isEmpty && items.count < maxItems
        return items
    }
}

/// The outcome of one section.
struct Section<T: Sendable>: Sendable {
    let value: T?
    let failure: SectionFailure?
}

struct SectionFailure: Sendable {
    let status: RPCError
    let source: Crm_Gateway_V1_SourceError
}

/// Gathers the failed sections of a view.
struct SourceErrors {
    private(set) var errors: [Crm_Gateway_V1_SourceError] = []

    /// The section's value, or nil after recording its failure.
    mutating func take<T>(_ section: Section<T>) -> T? {
        if let failure = section.failure { errors.append(failure.source) }
        return section.value
    }

    var complete: Bool { errors.isEmpty }
}
