import GRDB
import Synchronization

/// Every opportunity's facts in memory, mirroring the `deal` table. The forecast of 100,000 open
/// opportunities must recompute in under a second; reading them back from SQLite on every call
/// would spend that budget on decoding rows, so scoring reads this copy instead.
///
/// The book only ever holds committed state: changes reach it from the database writer's commit
/// hook (`DealTransaction.publish`), which runs serialized with every write, so the book and the
/// table cannot drift apart, and a rolled-back transaction never shows up here.
final class DealBook: Sendable {
    private let state = Mutex(State())

    private struct State {
        var deals: [String: Deal] = [:]
        var index = DealIndex()
    }

    init() {}

    func load(_ db: Database) throws {
        let deals = try DealRows.loadAll(db)
        var index = DealIndex()
        for id in deals.keys.sorted() { index.upsert(deals[id]!) }
        state.withLock { $0.deals = deals; $0.index = index }
    }

    /// A consistent copy of all deals (copy-on-write: cheap unless a writer changes the book meanwhile).
    var all: [String: Deal] { state.withLock { $0.deals } }

    /// The compact scoring columns, consistent with `all` at the moment of the call.
    var index: DealIndex { state.withLock { $0.index } }

    /// Both views from one instant (the forecast reads numbers from the index, titles from the deals).
    var snapshot: (deals: [String: Deal], index: DealIndex) { state.withLock { ($0.deals, $0.index) } }

    subscript(id: String) -> Deal? { state.withLock { $0.deals[id] } }

    var count: Int { state.withLock { $0.deals.count } }

    fileprivate func apply(_ changes: [String: Deal]) {
        guard !changes.isEmpty else { return }
        state.withLock { state in
            for id in changes.keys.sorted() {
                let deal = changes[id]!
                state.deals[id] = deal
                state.index.upsert(deal)
            }
        }
    }
}

/// The deals changed by one write transaction: reads see this transaction's own changes first, then
/// the committed book; `save` writes the row and stages the new value for the book, which takes it
/// only when the transaction commits.
final class DealTransaction {
    let db: Database
    let book: DealBook
    private(set) var staged: [String: Deal] = [:]

    init(db: Database, book: DealBook) {
        self.db = db
        self.book = book
    }

    func deal(_ id: String) -> Deal? { staged[id] ?? book[id] }

    func save(_ deal: Deal) throws {
        try DealRows.save(db, deal)
        staged[deal.id] = deal
    }

    /// Hands the staged deals to the book once (and only if) the enclosing transaction commits.
    func publish() {
        let changes = staged
        guard !changes.isEmpty else { return }
        let book = self.book
        db.afterNextTransaction(onCommit: { _ in book.apply(changes) })
    }
}
