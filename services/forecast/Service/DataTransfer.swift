import CRMProto
import Foundation
import GRDB
import RPCCore
import ServiceRuntime

/// Admin export and raw restore of this service's own records: targets and snapshots (the facts are
/// copies of other services' data and are re-fed from them, so they are not exported here).
extension ForecastServiceHandler {
    func exportForecastData(_ request: Crm_Forecast_V1_ExportForecastDataRequest,
                            responses: ResponseWriter<Crm_Forecast_V1_ExportForecastDataResponse>,
                            context: ServerContext) async throws {
        let caller = try Caller(context: context)
        try requireAdmin(caller, "ExportForecastData")
        let targets = try await store.read { db in try TargetStore.all(db) }
        for set in targets {
            try await responses.write(Crm_Forecast_V1_ExportForecastDataResponse(record: Crm_Forecast_V1_ForecastExportRecord(targets: set)))
        }
        guard request.includeSnapshots else { return }
        let ids = try await store.read { db in try String.fetchAll(db, sql: "SELECT id FROM snapshot ORDER BY taken_ms, id") }
        for id in ids {
            guard let snapshot = try await store.read({ db in try SnapshotStore.load(db, id: id) }) else { continue }
            try await responses.write(Crm_Forecast_V1_ExportForecastDataResponse(record: Crm_Forecast_V1_ForecastExportRecord(snapshot: snapshot)))
        }
    }

    func importForecastData(_ requests: RequestStream<Crm_Forecast_V1_ImportForecastDataRequest>,
                            context: ServerContext) async throws -> Crm_Forecast_V1_ImportForecastDataResponse {
        let caller = try Caller(context: context)
        try requireAdmin(caller, "ImportForecastData")
        var response = Crm_Forecast_V1_ImportForecastDataResponse()
        var dryRun: Bool?
        var rowNumber: Int64 = 0
        for try await message in requests {
            rowNumber += 1
            if dryRun == nil { dryRun = message.dryRun }
            let result = try await importOne(message.record, row: rowNumber, dryRun: dryRun ?? false)
            switch result.status {
            case .imported: response.imported += 1
            case .unchanged: response.unchanged += 1
            case .invalid, .failed: response.failed += 1
            default: break
            }
            response.results.append(result)
        }
        return response
    }

    private func importOne(_ record: Crm_Forecast_V1_ForecastExportRecord?, row: Int64, dryRun: Bool) async throws
        -> Crm_Forecast_V1_ImportRowResult {
        var result = Crm_Forecast_V1_ImportRowResult(rowNumber: row)
        switch (record?.targets, record?.snapshot) {
        case (let targets?, nil):
            result.recordKey = "targets/\(targets.period)"
            var errors = FieldErrors()
            TargetRules.validate(targets, errors: &errors)
            for mismatch in TargetRules.mismatches(targets) { errors.add("targets", mismatch.message) }
            if !errors.isEmpty {
                result.status = .invalid
                result.message = errors.problems.joined(separator: "; ")
                return result
            }
            let stored = try await store.read { db in try TargetStore.load(db, period: targets.period) }
            if stored == targets { result.status = .unchanged; return result }
            if dryRun { result.status = .valid; return result }
            try await store.write { db in try TargetStore.save(db, targets) }
            result.status = .imported
        case (nil, let snapshot?):
            result.recordKey = "snapshot/\(snapshot.id)"
            var problems: [String] = []
            if snapshot.id.isEmpty { problems.append("snapshot.id: required") }
            if Period.parse(snapshot.period) == nil { problems.append("snapshot.period: '\(snapshot.period)' is not a period") }
            if !SettingsStore.isCurrency(snapshot.currency) { problems.append("snapshot.currency: not a currency code") }
            for (i, deal) in snapshot.deals.enumerated() {
                if !(0...Bounds.maxAmountCents).contains(deal.amountCents) {
                    problems.append("snapshot.deals[\(i)].amount_cents: outside 0...\(Bounds.maxAmountCents)")
                }
                if !(deal.probability >= 0 && deal.probability <= 1) {
                    problems.append("snapshot.deals[\(i)].probability: must be within 0...1")
                }
            }
            if !problems.isEmpty {
                result.status = .invalid
                result.message = problems.joined(separator: "; ")
                return result
            }
            let stored = try await store.read { db in try SnapshotStore.load(db, id: snapshot.id) }
            if stored == snapshot { result.status = .unchanged; return result }
            if dryRun { result.status = .valid; return result }
            try await store.write { db in try SnapshotStore.save(db, snapshot) }
            result.status = .imported
        default:
            result.status = .invalid
            result.message = "record: exactly one of targets or snapshot must be set"
        }
        return result
    }
}
