import CRMProto
import Foundation
import GRDB
import RPCCore
import ServiceRuntime

/// R1 intake RPCs: one lead, unary bulk, client-streaming bulk (the web-form and import path).
extension LeadHandler {
    public func createLead(_ request: Crm_Leads_V1_CreateLeadRequest, context: ServerContext) async throws
        -> Crm_Leads_V1_CreateLeadResponse {
        try await guarded {
            let caller = try caller(context)
            let (settings, rules) = try intakeConfiguration()
            let prepared = try Self.prepare(request, caller: caller, settings: settings)
            let inputs = try await routingInputs(for: [prepared], rules: rules)
            let now = clock.nowMs()
            // Web forms post leads concurrently: they share commits (group commit).
            let response = try await store.writeInGroup { db in
                try Self.insert(db, prepared, caller: caller, inputs: inputs, settings: settings, now: now)
            }
            if !response.replayed { relay.wake() }
            return response
        }
    }

    public func createLeads(_ request: Crm_Leads_V1_CreateLeadsRequest, context: ServerContext) async throws
        -> Crm_Leads_V1_CreateLeadsResponse {
        try await guarded {
            let caller = try caller(context)
            let (results, summary) = try await bulkIntake(request.rows, dryRun: request.dryRun, caller: caller)
            return Crm_Leads_V1_CreateLeadsResponse(results: results, summary: summary)
        }
    }

    public func bulkCreateLeads(_ requests: RequestStream<Crm_Leads_V1_BulkCreateLeadsRequest>,
                                context: ServerContext) async throws -> Crm_Leads_V1_BulkCreateLeadsResponse {
        try await guarded {
            let caller = try caller(context)
            var rows: [Crm_Leads_V1_LeadIntakeRow] = []
            var dryRun: Bool?
            for try await message in requests {
                if dryRun == nil { dryRun = message.dryRun }
                rows.append(contentsOf: message.rows)
                if rows.count > Self.maxBulkRows {
                    throw RPCError(.resourceExhausted, "rows: at most \(Self.maxBulkRows) per call")
                }
            }
            let (results, summary) = try await bulkIntake(rows, dryRun: dryRun ?? false, caller: caller)
            return Crm_Leads_V1_BulkCreateLeadsResponse(results: results, summary: summary)
        }
    }

    static let maxBulkRows = 100_000
    /// Rows per write transaction: bounds how long bulk intake holds the writer.
    static let bulkChunk = 500

    /// Each row independently: validated (INVALID names every field), checked for duplicates (against
    /// open leads and earlier rows), routed and stored with its own idempotency key. Bad rows never
    /// stop good ones; each row is all-or-nothing.
    func bulkIntake(_ rows: [Crm_Leads_V1_LeadIntakeRow], dryRun: Bool, caller: Caller) async throws
        -> ([Crm_Leads_V1_LeadRowResult], Crm_Leads_V1_BulkSummary) {
        if rows.count > Self.maxBulkRows {
            throw RPCError(.resourceExhausted, "rows: at most \(Self.maxBulkRows) per call, got \(rows.count)")
        }
        let (settings, rules) = try intakeConfiguration()
        var results = rows.map { row in
            Crm_Leads_V1_LeadRowResult(rowNumber: row.rowNumber, requestId: row.requestId)
        }
        var prepared: [(index: Int, intake: PreparedIntake)] = []
        for (index, row) in rows.enumerated() {
            let request = Crm_Leads_V1_CreateLeadRequest(
                requestId: row.requestId, lead: row.lead, routing: row.routing, ownerId: row.ownerId)
            do {
                prepared.append((index, try Self.prepare(request, caller: caller, settings: settings)))
            } catch let problems as FieldProblems {
                results[index].status = .invalid
                results[index].fieldErrors = problems.problems.map(\.proto)
                results[index].message = problems.rpcError.message
            } catch let error as RPCError {
                results[index].status = .failed
                results[index].message = error.description
            }
        }
        let inputs = try await routingInputs(for: prepared.map(\.intake), rules: rules)
        if dryRun {
            try await dryRunRows(prepared, into: &results, inputs: inputs)
        } else {
            var start = 0
            while start < prepared.count {
                // Earlier chunks stay committed; a client that gave up re-sends with the same keys.
                try Task.checkCancellation()
                let chunk = Array(prepared[start..<min(start + Self.bulkChunk, prepared.count)])
                start += chunk.count
                let now = clock.nowMs()
                let outcomes = try await store.write { db in
                    try chunk.map { item in
                        try Self.storeRow(db, item.intake, caller: caller, inputs: inputs, settings: settings, now: now)
                    }
                }
                for (item, outcome) in zip(chunk, outcomes) {
                    results[item.index].status = outcome.status
                    results[item.index].leadId = outcome.leadId
                    results[item.index].ownerId = outcome.ownerId
                    results[item.index].duplicateOfLeadId = outcome.duplicateOfLeadId
                    results[item.index].message = outcome.message
                }
                relay.wake()
            }
        }
        return (results, Self.summarize(results))
    }

    /// One row; its fate, never an error (store failures end the whole call).
    static func storeRow(_ db: Database, _ intake: PreparedIntake, caller: Caller, inputs: RoutingInputs,
                         settings: LeadSettingsValues, now: Int64) throws -> Crm_Leads_V1_LeadRowResult {
        var result = Crm_Leads_V1_LeadRowResult()
        do {
            // No savepoint needed: insert() throws its row-level refusals (duplicate, key reuse,
            // routing) before it writes anything; a store failure after that fails the whole call.
            let response = try insert(db, intake, caller: caller, inputs: inputs, settings: settings, now: now)
            result.status = response.replayed ? .replayed : .created
            result.leadId = response.lead?.id ?? ""
            result.ownerId = response.lead?.ownerId ?? ""
            result.message = response.assignment?.reason ?? ""
        } catch let duplicate as DuplicateLead {
            result.status = .duplicate
            result.duplicateOfLeadId = duplicate.leadID
            result.message = duplicate.message
        } catch let error as RPCError {
            result.status = error.code == .invalidArgument ? .invalid : .failed
            if error.code == .invalidArgument, let colon = error.message.firstIndex(of: ":") {
                result.fieldErrors = [Crm_Leads_V1_FieldError(
                    field: String(error.message[..<colon]),
                    message: error.message[colon...].dropFirst().trimmingCharacters(in: .whitespaces))]
            }
            result.message = error.description
        }
        return result
    }

    /// Dry run: validation, replays and duplicates (also among the rows themselves); nothing stored.
    private func dryRunRows(_ prepared: [(index: Int, intake: PreparedIntake)],
                            into results: inout [Crm_Leads_V1_LeadRowResult], inputs: RoutingInputs) async throws {
        let rowNumbers = prepared.map { results[$0.index].rowNumber }
        let now = clock.nowMs()
        let outcomes = try await store.read { db in
            var seenPhones: [String: Int64] = [:], seenEmails: [String: Int64] = [:]
            return try zip(prepared, rowNumbers).map { item, rowNumber -> Crm_Leads_V1_LeadRowResult in
                var result = Crm_Leads_V1_LeadRowResult()
                let lead = item.intake.lead
                let requestID = item.intake.request.requestId
                if let replay = try RequestKeys.stored(db, scope: Self.createScope, requestID: requestID,
                                                      as: Crm_Leads_V1_CreateLeadResponse.self) {
                    result.status = .replayed
                    result.leadId = replay.lead?.id ?? ""
                    result.ownerId = replay.lead?.ownerId ?? ""
                    return result
                }
                if !lead.force, let duplicate = try Duplicates.findOpen(db, phone: lead.phone, email: lead.email) {
                    result.status = .duplicate
                    result.duplicateOfLeadId = duplicate.leadID
                    result.message = duplicate.message
                    return result
                }
                if !lead.force, let earlier = (lead.phone.isEmpty ? nil : seenPhones[lead.phone])
                    ?? (lead.email.isEmpty ? nil : seenEmails[lead.email]) {
                    result.status = .duplicate
                    result.message = "duplicate of row \(earlier) of this request"
                    return result
                }
                if !lead.phone.isEmpty { seenPhones[lead.phone] = rowNumber }
                if !lead.email.isEmpty { seenEmails[lead.email] = rowNumber }
                if case .owner(let owner) = item.intake.route {
                    do {
                        _ = try Self.availableUser(owner, inputs: inputs, now: now, field: "owner_id")
                    } catch let error as RPCError {
                        result.status = .failed
                        result.message = error.description
                        return result
                    }
                }
                result.status = .valid
                return result
            }
        }
        for (item, outcome) in zip(prepared, outcomes) {
            results[item.index].status = outcome.status
            results[item.index].leadId = outcome.leadId
            results[item.index].ownerId = outcome.ownerId
            results[item.index].duplicateOfLeadId = outcome.duplicateOfLeadId
            results[item.index].message = outcome.message
        }
    }

    static func summarize(_ results: [Crm_Leads_V1_LeadRowResult]) -> Crm_Leads_V1_BulkSummary {
        var summary = Crm_Leads_V1_BulkSummary(rows: Int64(results.count))
        for result in results {
            switch result.status {
            case .created: summary.created += 1
            case .replayed: summary.replayed += 1
            case .valid: summary.valid += 1
            case .invalid: summary.invalid += 1
            case .duplicate: summary.duplicate += 1
            default: summary.failed += 1
            }
        }
        return summary
    }
}
