import CRMProto

/// Display names of other services' enums for timeline summaries.
enum Names {
    static func stage(_ stage: Crm_Opportunities_V1_Stage) -> String {
        stage.protoName.replacingOccurrences(of: "STAGE_", with: "")
    }

    static func activity(_ type: Crm_Opportunities_V1_ActivityType) -> String {
        let name = type.protoName.replacingOccurrences(of: "ACTIVITY_TYPE_", with: "").lowercased()
        return name.prefix(1).uppercased() + name.dropFirst()
    }

    static func ticketKind(_ kind: Crm_Tickets_V1_TicketKind) -> String {
        let name = kind.protoName.replacingOccurrences(of: "TICKET_KIND_", with: "").replacingOccurrences(of: "_", with: " ").lowercased()
        return name.prefix(1).uppercased() + name.dropFirst()
    }

    static func ticketStatus(_ status: Crm_Tickets_V1_TicketStatus) -> String {
        status.protoName.replacingOccurrences(of: "TICKET_STATUS_", with: "")
    }

    static func money(_ cents: Int64, _ currency: String) -> String {
        guard cents != 0 else { return "" }
        let sign = cents < 0 ? "-" : ""
        let magnitude = cents.magnitude
        let fraction = magnitude % 100
        return " for \(sign)\(magnitude / 100).\(fraction < 10 ? "0" : "")\(fraction) \(currency)"
    }
}
