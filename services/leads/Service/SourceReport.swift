import CRMProto
import GRDB

/// Line 1 source analytics: per source (and campaign, and period) — leads, assignment, activation
/// within the R2 window, conversion, disqualification by reason, won money (from DEAL_WON events of
/// converted leads) and marketing spend — the figures that tell where marketing money works.
enum SourceReport {
    struct LeadFacts: Sendable {
        var source: Int32
        var detail: String
        var createdAtMs: Int64
        var status: Int32
        var assigned: Bool
        var activated: Bool
        var activatedWithin: Bool
        var activationDelayMs: Int64
        var disqualifyReason: Int32
        var wins: [(amount: Int64, currency: String)]
    }

    struct Spend: Sendable {
        var source: Int32
        var detail: String
        var month: String
        var amountCents: Int64
        var currency: String
    }

    struct Key: Hashable, Comparable {
        var period: String
        var source: Int32
        var detail: String
        static func < (a: Key, b: Key) -> Bool { (a.period, a.source, a.detail) < (b.period, b.source, b.detail) }
    }

    /// Accumulates one row's figures.
    struct Tally {
        var leads: Int64 = 0, assigned: Int64 = 0, activated: Int64 = 0, within: Int64 = 0
        var converted: Int64 = 0, disqualified: Int64 = 0, open: Int64 = 0
        var reasons: [Int32: Int64] = [:]
        var wonCount: Int64 = 0, wonCents: Int64 = 0, otherCurrencyWins: Int64 = 0, spendCents: Int64 = 0
        var delays: [Int64] = []

        mutating func add(_ lead: LeadFacts, currency: String) {
            leads += 1
            if lead.assigned { assigned += 1 }
            if lead.activated {
                activated += 1
                delays.append(lead.activationDelayMs)
            }
            if lead.activatedWithin { within += 1 }
            switch Crm_Leads_V1_LeadStatus(rawValue: lead.status) {
            case .converted: converted += 1
            case .disqualified:
                disqualified += 1
                reasons[lead.disqualifyReason, default: 0] += 1
            case .pool, .assigned, .activated, .converting: open += 1
            default: break
            }
            for win in lead.wins {
                if win.currency == currency {
                    wonCount += 1
                    wonCents = wonCents.addingClamped(win.amount)
                } else {
                    otherCurrencyWins += 1
                }
            }
        }

        func row(_ key: Key?) -> Crm_Leads_V1_SourceReportRow {
            var row = Crm_Leads_V1_SourceReportRow()
            if let key {
                row.source = Crm_Leads_V1_LeadSource(rawValue: key.source)
                row.sourceDetail = key.detail
                row.period = key.period
            }
            row.leads = leads
            row.assigned = assigned
            row.activated = activated
            row.activatedWithinDeadline = within
            row.converted = converted
            row.disqualified = disqualified
            row.openLeads = open
            row.disqualifiedByReason = reasons.sorted { $0.key < $1.key }.map {
                Crm_Leads_V1_DisqualifyCount(reason: Crm_Leads_V1_DisqualifyReason(rawValue: $0.key), count: $0.value)
            }
            row.wonCount = wonCount
            row.wonAmountCents = wonCents
            row.spendCents = spendCents
            row.activationRate = assigned > 0 ? Double(activated) / Double(assigned) : 0
            row.conversionRate = leads > 0 ? Double(converted) / Double(leads) : 0
            if spendCents > 0 { row.roi = Double(wonCents.subtractingClamped(spendCents)) / Double(spendCents) }
            row.costPerLeadCents = leads > 0 ? spendCents / leads : 0
            row.otherCurrencyWins = otherCurrencyWins
            if !delays.isEmpty {
                let sorted = delays.sorted()
                row.medianFirstContactMs = sorted.count % 2 == 1
                    ? sorted[sorted.count / 2]
                    : sorted[sorted.count / 2 - 1] / 2 + sorted[sorted.count / 2] / 2
            }
            return row
        }

        mutating func merge(_ other: Tally) {
            leads += other.leads
            assigned += other.assigned
            activated += other.activated
            within += other.within
            converted += other.converted
            disqualified += other.disqualified
            open += other.open
            for (reason, count) in other.reasons { reasons[reason, default: 0] += count }
            wonCount += other.wonCount
            wonCents = wonCents.addingClamped(other.wonCents)
            otherCurrencyWins += other.otherCurrencyWins
            spendCents = spendCents.addingClamped(other.spendCents)
            delays += other.delays
        }
    }

    static func period(ofMs ms: Int64, _ granularity: Crm_Leads_V1_Granularity) -> String {
        switch granularity {
        case .month: CalendarDate.monthKey(ofMs: ms)
        case .quarter: CalendarDate.quarterKey(ofMs: ms)
        default: ""
        }
    }

    static func period(ofMonth month: String, _ granularity: Crm_Leads_V1_Granularity) -> String {
        switch granularity {
        case .month: return month
        case .quarter:
            guard let parsed = CalendarDate.parseMonth(month) else { return month }
            return "\(month.prefix(4))-Q\((parsed.month - 1) / 3 + 1)"
        default: return ""
        }
    }

    static func build(leads: [LeadFacts], spend: [Spend], request: Crm_Leads_V1_SourceReportRequest,
                      currency: String) -> (rows: [Crm_Leads_V1_SourceReportRow], total: Crm_Leads_V1_SourceReportRow) {
        var tallies: [Key: Tally] = [:]
        for lead in leads {
            let key = Key(period: period(ofMs: lead.createdAtMs, request.granularity), source: lead.source,
                          detail: request.bySourceDetail ? lead.detail : "")
            tallies[key, default: Tally()].add(lead, currency: currency)
        }
        for item in spend where item.currency == currency {
            let key = Key(period: period(ofMonth: item.month, request.granularity), source: item.source,
                          detail: request.bySourceDetail ? item.detail : "")
            tallies[key, default: Tally()].spendCents = tallies[key, default: Tally()].spendCents.addingClamped(item.amountCents)
        }
        var total = Tally()
        for tally in tallies.values { total.merge(tally) }
        let rows = tallies.sorted { $0.key < $1.key }.map { $0.value.row($0.key) }
        return (rows, total.row(nil))
    }
}
