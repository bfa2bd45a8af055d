// crm-bench-load: the CreateLead load generator of benchmarks/case_leads.py. Every call creates a
// new lead (its own request_id, phone and email, so the duplicate check sees a realistic book and
// idempotency never replays), which h2load's one repeated body cannot do; a Python client would
// saturate the load core before the server. Same output as the Python one it replaced: one JSON
// line with requests/s, p50/p99 ms, succeeded, failed; acknowledged lead ids appended to --acked.
import CRMProto
import Foundation
import RPCCore
import RPCHTTP2
import Synchronization

struct Options {
    var address = "", token = "", acked = ""
    var requests = 0, concurrency = 128, offset = 0

    init(_ arguments: [String]) {
        var iterator = arguments.makeIterator()
        while let flag = iterator.next() {
            let value = iterator.next() ?? ""
            switch flag {
            case "--address": address = value
            case "--token": token = value
            case "--acked": acked = value
            case "--requests": requests = Int(value) ?? 0
            case "--concurrency": concurrency = Int(value) ?? 128
            case "--offset": offset = Int(value) ?? 0
            default: FileHandle.standardError.write(Data("crm-bench-load: unknown flag \(flag)\n".utf8)); exit(64)
            }
        }
    }
}

func request(_ n: Int) -> Crm_Leads_V1_CreateLeadRequest {
    var lead = Crm_Leads_V1_LeadInput()
    lead.source = Crm_Leads_V1_LeadSource(rawValue: Int32(1 + n % 8))
    lead.sourceDetail = "Hannover Messe 2026"
    lead.scenario = "asked for a demo at booth 12"
    lead.contactName = "Anna Schmidt \(n)"
    lead.phone = String(format: "+49 151 %04d %04d", n / 10000 % 10000, n % 10000)
    lead.email = "anna.schmidt\(n)@example.com"
    lead.jobTitle = "Head of Operations"
    lead.company = "Schmidt \(n) GmbH"
    lead.region = "DE-\(n % 16)"
    lead.industry = "Logistics"
    lead.background = "Runs 40 trucks, spreadsheets today"
    lead.initialNeed = "fleet scheduling for 40 trucks"
    var request = Crm_Leads_V1_CreateLeadRequest()
    request.requestId = "bench-\(n)"
    request.routing = .caller
    request.lead = lead
    return request
}

struct Tally {
    var latencies: [Double] = []
    var acked: [String] = []
    var failures: [String: Int] = [:]
}

let options = Options(Array(CommandLine.arguments.dropFirst()))
let channel = try HTTP2Channel(address: options.address)
let client = Crm_Leads_V1_LeadServiceClient(channel: channel)
let callOptions = CallOptions(timeout: .seconds(60), metadata: Metadata([
    ("x-crm-service-token", options.token), ("x-crm-user", "bench-rep"), ("x-crm-role", "rep"), ("x-crm-team", "team-bench"),
]))
let next = Atomic(options.offset)
let end = options.offset + options.requests
let tally = Mutex(Tally())
let started = ContinuousClock.now
await withTaskGroup(of: Void.self) { group in
    for _ in 0..<options.concurrency {
        group.addTask {
            while true {
                let n = next.add(1, ordering: .relaxed).oldValue
                guard n < end else { return }
                let sent = ContinuousClock.now
                do {
                    let response = try await client.createLead(request(n), options: callOptions)
                    let seconds = (ContinuousClock.now - sent) / .seconds(1)
                    tally.withLock { $0.latencies.append(seconds); $0.acked.append(response.lead?.id ?? "") }
                } catch let error as RPCError {
                    tally.withLock { $0.failures["\(error.code)", default: 0] += 1 }
                } catch {
                    tally.withLock { $0.failures["\(type(of: error))", default: 0] += 1 }
                }
            }
        }
    }
}
let elapsed = (ContinuousClock.now - started) / .seconds(1)
await channel.close()
let result = tally.withLock { $0 }
let latencies = result.latencies.sorted()
func pick(_ q: Double) -> Double {
    latencies.isEmpty ? .nan : latencies[min(latencies.count - 1, Int(q * Double(latencies.count)))] * 1000
}
if !FileManager.default.fileExists(atPath: options.acked) {
    _ = FileManager.default.createFile(atPath: options.acked, contents: nil)
}
if let handle = FileHandle(forWritingAtPath: options.acked) {
    handle.seekToEndOfFile()
    handle.write(Data((result.acked.joined(separator: "\n") + "\n").utf8))
    handle.closeFile()
}
let summary: [String: Any] = [
    "rps": Double(latencies.count) / elapsed, "p50_ms": pick(0.5), "p99_ms": pick(0.99),
    "succeeded": latencies.count, "failed": result.failures.values.reduce(0, +), "failures": result.failures,
]
print(String(decoding: try JSONSerialization.data(withJSONObject: summary), as: UTF8.self))
