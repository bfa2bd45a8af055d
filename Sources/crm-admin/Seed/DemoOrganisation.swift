import CRMProto

/// The demo organisation `seed --demo` creates: two sales teams with a manager and two reps each,
/// an administrator, and for every rep a book of leads, customers, deals and tickets spread over
/// every state a newcomer should see. Plain data; DemoSeeder turns it into RPCs.
enum DemoOrganisation {
    static let emailDomain = "demo.example"

    struct Person {
        var key: String
        var name: String
        var role: Crm_Gateway_V1_Role
        var team: String?
        var email: String { "\(key)@\(DemoOrganisation.emailDomain)" }
    }

    static let teams = ["Demo North", "Demo South"]

    static let admin = Person(key: "ada", name: "Ada Admin", role: .admin, team: nil)
    static let managers = [
        Person(key: "mia", name: "Mia Nordmann", role: .manager, team: "Demo North"),
        Person(key: "max", name: "Max Süd", role: .manager, team: "Demo South"),
    ]
    static let reps = [
        Person(key: "rick", name: "Rick Weber", role: .rep, team: "Demo North"),
        Person(key: "rosa", name: "Rosa Lindqvist", role: .rep, team: "Demo North"),
        Person(key: "sam", name: "Sam Okafor", role: .rep, team: "Demo South"),
        Person(key: "sara", name: "Sara Costa", role: .rep, team: "Demo South"),
    ]

    /// A prospect company: becomes a customer with its key person, and deals at several stages.
    struct Company {
        var name: String
        var industry: String
        var region: String
        var size: Crm_Customers_V1_CompanySize
        var contact: String
        var title: String
        var need: String
    }

    /// Four companies per rep (rep index × 4 + n).
    static let companies: [Company] = [
        Company(name: "Bäckerei Kunz GmbH", industry: "Food", region: "DE-North", size: .medium, contact: "Ute Kunz", title: "Managing Director", need: "POS terminals for 12 branches"),
        Company(name: "Hafenlogistik Nord AG", industry: "Logistics", region: "DE-North", size: .large, contact: "Jan Petersen", title: "Head of Operations", need: "Fleet scheduling for 40 trucks"),
        Company(name: "Klinik am See", industry: "Healthcare", region: "DE-North", size: .large, contact: "Dr. Eva Brandt", title: "CIO", need: "Patient intake tablets"),
        Company(name: "Möbelhaus Jansen", industry: "Retail", region: "DE-North", size: .medium, contact: "Pia Jansen", title: "Owner", need: "Inventory sync with the web shop"),
        Company(name: "Stadtwerke Elbtal", industry: "Utilities", region: "DE-North", size: .enterprise, contact: "Tom Richter", title: "Procurement Lead", need: "Field service app"),
        Company(name: "Brauerei Falk", industry: "Food", region: "DE-North", size: .small, contact: "Lena Falk", title: "CFO", need: "Route planning for deliveries"),
        Company(name: "Nordsee Hotels", industry: "Hospitality", region: "DE-North", size: .large, contact: "Ole Hansen", title: "Head of IT", need: "Self check-in kiosks"),
        Company(name: "Werft Kiel", industry: "Manufacturing", region: "DE-North", size: .enterprise, contact: "Kai Lorenz", title: "Plant Manager", need: "Maintenance scheduling"),
        Company(name: "Alpen Sport KG", industry: "Retail", region: "DE-South", size: .medium, contact: "Vroni Huber", title: "Owner", need: "Rental management for 5 shops"),
        Company(name: "Maschinenbau Reiter", industry: "Manufacturing", region: "DE-South", size: .large, contact: "Georg Reiter", title: "COO", need: "Spare-parts portal"),
        Company(name: "Weingut Sonnhalde", industry: "Food", region: "DE-South", size: .small, contact: "Clara Sonn", title: "Owner", need: "Club member subscriptions"),
        Company(name: "Stadtbibliothek Ulm", industry: "Public", region: "DE-South", size: .medium, contact: "Dr. Paul Frey", title: "Director", need: "Self-service lending"),
        Company(name: "Autohaus Berger", industry: "Automotive", region: "DE-South", size: .medium, contact: "Nina Berger", title: "Sales Director", need: "Test-drive booking"),
        Company(name: "Bio-Markt Grün", industry: "Retail", region: "DE-South", size: .small, contact: "Finn Grün", title: "Owner", need: "Loyalty programme"),
        Company(name: "Klinikum Isar", industry: "Healthcare", region: "DE-South", size: .enterprise, contact: "Dr. Ana Vogt", title: "CIO", need: "Staff rostering"),
        Company(name: "Holzbau Maier", industry: "Construction", region: "DE-South", size: .small, contact: "Sepp Maier", title: "Owner", need: "Quotes on tablets"),
    ]

    /// The open stages a rep's deals are spread over (every stage of line 3), then one won and one lost.
    static let openStages: [Crm_Opportunities_V1_Stage] = [.relationship, .needsConfirmed, .solutionFit, .quote, .negotiation, .contract]

    struct LeadSeed {
        var contact: String
        var company: String
        var source: Crm_Leads_V1_LeadSource
        var scenario: String
        var need: String
    }

    /// Per rep: assigned (to activate today), activated, converted, disqualified; plus pool leads.
    static func leads(forRep index: Int) -> [LeadSeed] {
        let sources: [Crm_Leads_V1_LeadSource] = [.tradeShow, .website, .customerReferral, .advertising, .liveStream, .channelPartner, .marketingEvent, .selfSourced]
        let people = ["Lukas", "Marie", "Jonas", "Hanna", "Felix", "Sophie", "Paul", "Emma", "Leon", "Mila", "Noah", "Lea", "Elias", "Lina", "Ben", "Ida"]
        return (0..<4).map { n in
            let k = index * 4 + n
            return LeadSeed(contact: "\(people[k]) Demo", company: "Prospect \(k + 1) GmbH", source: sources[k % sources.count],
                            scenario: ["asked for a demo at booth 12", "filled the contact form for pricing", "referred by a happy customer",
                                       "clicked the spring campaign"][n],
                            need: ["replace spreadsheets for the sales team", "a customer portal", "field service scheduling",
                                   "inventory visibility across sites"][n])
        }
    }
}
