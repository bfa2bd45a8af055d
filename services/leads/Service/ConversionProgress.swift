import CRMProto
import Foundation
import GRDB

/// How far the ConvertLead saga of one lead got: each peer record's id as soon as it is known.
struct ConversionProgress: Sendable {
    var leadID: String
    var customerID = ""
    var customerState: Crm_Leads_V1_StepState = .unspecified
    var keyContactID = ""
    var keyContactState: Crm_Leads_V1_StepState = .unspecified
    var opportunityID = ""
    var opportunityState: Crm_Leads_V1_StepState = .unspecified
    var startedBy = ""
    var startedAtMs: Int64 = 0
    var completedAtMs: Int64 = 0
    var response: Crm_Leads_V1_ConvertLeadResponse?

    /// No peer record was created yet (linking an existing one creates nothing), so the saga can be
    /// abandoned without leaving anything behind.
    var nothingCreated: Bool { ![customerState, keyContactState, opportunityState].contains(.done) }

    static func load(_ db: Database, leadID: String) throws -> ConversionProgress? {
        guard let row = try Row.fetchOne(db, sql: "SELECT * FROM conversions WHERE lead_id = ?", arguments: [leadID]) else {
            return nil
        }
        var progress = ConversionProgress(leadID: leadID)
        progress.customerID = row["customer_id"]
        progress.customerState = Crm_Leads_V1_StepState(rawValue: row["customer_state"])
        progress.keyContactID = row["key_contact_id"]
        progress.keyContactState = Crm_Leads_V1_StepState(rawValue: row["key_contact_state"])
        progress.opportunityID = row["opportunity_id"]
        progress.opportunityState = Crm_Leads_V1_StepState(rawValue: row["opportunity_state"])
        progress.startedBy = row["started_by"]
        progress.startedAtMs = row["started_at_ms"]
        progress.completedAtMs = row["completed_at_ms"]
        if let bytes = row["response"] as Data? {
            progress.response = try Crm_Leads_V1_ConvertLeadResponse(serializedBytes: Array(bytes))
        }
        return progress
    }

    func save(_ db: Database) throws {
        try db.execute(sql: """
            INSERT INTO conversions (lead_id, customer_id, customer_state, key_contact_id, key_contact_state,
                                     opportunity_id, opportunity_state, started_by, started_at_ms, completed_at_ms, response)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT (lead_id) DO UPDATE SET
                customer_id = excluded.customer_id, customer_state = excluded.customer_state,
                key_contact_id = excluded.key_contact_id, key_contact_state = excluded.key_contact_state,
                opportunity_id = excluded.opportunity_id, opportunity_state = excluded.opportunity_state,
                completed_at_ms = excluded.completed_at_ms, response = excluded.response
            """, arguments: [leadID, customerID, customerState.rawValue, keyContactID, keyContactState.rawValue,
                             opportunityID, opportunityState.rawValue, startedBy, startedAtMs, completedAtMs,
                             response.map { Data($0.serializedBytes()) }])
    }
}

/// One saga per lead at a time in this process: a concurrent ConvertLead of the same lead answers
/// ABORTED instead of racing the first (the peers' idempotency keys make a race harmless anyway).
actor ConversionLocks {
    private var running = Set<String>()

    func acquire(_ leadID: String) -> Bool { running.insert(leadID).inserted }
    func release(_ leadID: String) { running.remove(leadID) }
}
