import CRMStore
import CustomersService
import ForecastService
import GatewayService
import LeadsService
import OpportunitiesService
import TicketsService

/// What crm-admin knows about each service of the suite: its gRPC service, its export/import
/// methods and record type (proto3 JSON Lines), and its store migrations for offline `migrate`.
struct ServiceEntry: Sendable {
    let name: String
    let package: String
    let grpcService: String
    let exportMethod: String
    let importMethod: String
    /// The unit of export/import, e.g. `crm.tickets.v1.TicketExportRecord`.
    let recordMessage: String
    /// Request fields a full export sets (include history, archived, tokens…), in JSON names.
    let fullExport: [String]
    /// The export request's "changed since" field, for `export --since`.
    let sinceField: String?
    /// The store's migrations, from the service library itself, so crm-admin and the service agree.
    let migrations: [Migration]

    var exportRequest: String { "\(package).\(exportMethod)Request" }
    var exportResponse: String { "\(package).\(exportMethod)Response" }
    var importRequest: String { "\(package).\(importMethod)Request" }
    var importResponse: String { "\(package).\(importMethod)Response" }
    var exportPath: String { "/\(package).\(grpcService)/\(exportMethod)" }
    var importPath: String { "/\(package).\(grpcService)/\(importMethod)" }
    var healthName: String { "\(package).\(grpcService)" }
}

enum ServiceCatalog {
    /// In the order the suite starts them (the gateway, which calls everyone, last).
    static let all: [ServiceEntry] = [
        ServiceEntry(name: "customers", package: "crm.customers.v1", grpcService: "CustomerService",
                     exportMethod: "ExportCustomers", importMethod: "ImportCustomers",
                     recordMessage: "crm.customers.v1.CustomerExportRecord",
                     fullExport: ["includeArchived", "includeTimeline"], sinceField: "updatedSinceMs",
                     migrations: CustomersSchema.migrations),
        ServiceEntry(name: "opportunities", package: "crm.opportunities.v1", grpcService: "OpportunityService",
                     exportMethod: "ExportOpportunities", importMethod: "ImportOpportunities",
                     recordMessage: "crm.opportunities.v1.OpportunityExportRecord",
                     fullExport: [], sinceField: "updatedSinceMs",
                     migrations: OpportunitiesSchema.migrations),
        ServiceEntry(name: "leads", package: "crm.leads.v1", grpcService: "LeadService",
                     exportMethod: "ExportLeads", importMethod: "ImportLeads",
                     recordMessage: "crm.leads.v1.LeadExportRecord",
                     fullExport: ["includeHistory"], sinceField: "updatedSinceMs",
                     migrations: LeadsSchema.migrations),
        ServiceEntry(name: "tickets", package: "crm.tickets.v1", grpcService: "TicketService",
                     exportMethod: "ExportTickets", importMethod: "ImportTickets",
                     recordMessage: "crm.tickets.v1.TicketExportRecord",
                     fullExport: [], sinceField: "updatedSinceMs",
                     migrations: TicketsSchema.migrations),
        ServiceEntry(name: "forecast", package: "crm.forecast.v1", grpcService: "ForecastService",
                     exportMethod: "ExportForecastData", importMethod: "ImportForecastData",
                     recordMessage: "crm.forecast.v1.ForecastExportRecord",
                     fullExport: ["includeSnapshots"], sinceField: nil,
                     migrations: ForecastSchema.migrations),
        ServiceEntry(name: "gateway", package: "crm.gateway.v1", grpcService: "GatewayService",
                     exportMethod: "ExportDirectory", importMethod: "ImportDirectory",
                     recordMessage: "crm.gateway.v1.DirectoryExportRecord",
                     fullExport: ["includeInactive", "includeTokens"], sinceField: nil,
                     migrations: GatewaySchema.migrations),
    ]

    static var names: [String] { all.map(\.name) }

    static func entry(_ name: String) throws -> ServiceEntry {
        let key = name.hasPrefix("crm-") ? String(name.dropFirst(4)) : name
        guard let entry = all.first(where: { $0.name == key }) else {
            throw AdminError("unknown service '\(name)'; one of: \(names.joined(separator: ", "))", code: AdminExit.usage)
        }
        return entry
    }
}
