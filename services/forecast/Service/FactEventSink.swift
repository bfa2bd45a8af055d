import CRMProto
import CRMStore
import Foundation
import GRDB
import Logging
import RPCCore
import ServiceRuntime

/// `crm.events.v1.EventSink` of crm-forecast: applies each event once (inbox by event id) and acks
/// each one, like the shared `EventSinkService` — but a whole delivered batch goes into ONE
/// transaction. crm-forecast receives every opportunity's
/// history (thousands of events when a producer catches up, 100,000 when the suite is loaded);
/// a transaction per event would make catching up take minutes. Whether an event is unprocessable
/// (REJECTED) is decided before it writes anything; a failing transaction acks nothing (RETRY), so
/// the producer redelivers the batch and nothing is half-applied.
struct FactEventSink: Crm_Events_V1_EventSinkHandler {
    let store: Store
    let book: DealBook
    let clock: any WallClock
    let logger: Logger

    func deliver(_ request: Crm_Events_V1_DeliverEventsRequest, context: ServerContext) async throws
        -> Crm_Events_V1_DeliverEventsResponse {
        guard request.events.count <= 500 else {
            throw RPCError(.invalidArgument, "events: at most 500 per call, got \(request.events.count)")
        }
        let now = clock.nowMs()
        let producer = request.producer
        let events = request.events
        let book = self.book
        do {
            let acks = try await store.write { db -> [Crm_Events_V1_EventAck] in
                let tx = DealTransaction(db: db, book: book)
                var acks: [Crm_Events_V1_EventAck] = []
                acks.reserveCapacity(events.count)
                let seen = try FastStatement(db, sql: "SELECT 1 FROM inbox WHERE event_id = ?")
                let remember = try FastStatement(db, sql: "INSERT INTO inbox (event_id, producer, kind, applied_ms) VALUES (?, ?, ?, ?)")
                for event in events {
                    guard !event.eventId.isEmpty else {
                        acks.append(Crm_Events_V1_EventAck(eventId: "", status: .rejected, message: "event_id: required"))
                        continue
                    }
                    if try seen.exists({ $0.text(event.eventId) }) {
                        acks.append(Crm_Events_V1_EventAck(eventId: event.eventId, status: .duplicate))
                        continue
                    }
                    do {
                        try EventFacts.check(event)
                    } catch let error as RPCError {
                        acks.append(Crm_Events_V1_EventAck(eventId: event.eventId, status: .rejected, message: error.message))
                        continue
                    }
                    _ = try EventFacts.apply(tx, event)
                    try remember.execute { b in b.text(event.eventId); b.text(producer); b.int(event.kind.rawValue); b.int(now) }
                    acks.append(Crm_Events_V1_EventAck(eventId: event.eventId, status: .accepted))
                }
                try SyncState.set(db, "facts_as_of_ms", now)
                tx.publish()
                return acks
            }
            return Crm_Events_V1_DeliverEventsResponse(acks: acks)
        } catch {
            logger.error("event batch failed; asking for redelivery", metadata: ["error": "\(error)", "events": "\(events.count)"])
            return Crm_Events_V1_DeliverEventsResponse(acks: events.map {
                Crm_Events_V1_EventAck(eventId: $0.eventId, status: .retry, message: "not applied: \(error)")
            })
        }
    }
}
