import CRMStore
import Foundation
import GRDB
import Testing

@Suite("Point reads straight from SQLite")
struct StepRowTests {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("steprow-\(UUID().uuidString)/test.sqlite").path

    static let items = Migration(1, "items") { db in
        try db.execute(sql: "CREATE TABLE items (id TEXT PRIMARY KEY, name TEXT NOT NULL, price INTEGER NOT NULL)")
        try db.execute(sql: "INSERT INTO items VALUES ('a', 'Zürich 東京 ☕', -9007199254740993), ('b', '', 0)")
    }

    struct Item: Equatable {
        var id: String, name: String, price: Int64
        init(id: String, name: String, price: Int64) { (self.id, self.name, self.price) = (id, name, price) }
        init(row: some ColumnReader) { self.init(id: row.text(0), name: row.text(1), price: row.int64(2)) }
    }

    @Test func readsTheSameValuesAsGRDBsRowAndNilWhenThereIsNone() async throws {
        let store = try Store(path: path, migrations: [Self.items])
        let sql = "SELECT id, name, price FROM items WHERE id = ?"
        try store.readHere { db in
            for id in ["a", "b"] {
                let direct = try db.cachedStatement(sql: sql).fetchFirst(arguments: [id]) { Item(row: $0) }
                let viaRow = try Row.fetchOne(db, sql: sql, arguments: [id]).map { Item(row: $0) }
                #expect(direct != nil && direct == viaRow)
            }
            #expect(try db.cachedStatement(sql: sql).fetchFirst(arguments: ["missing"]) { Item(row: $0) } == nil)
            // The statement is reset after each read: reused at once, it answers again.
            #expect(try db.cachedStatement(sql: sql).fetchFirst(arguments: ["a"]) { $0.text(1) } == "Zürich 東京 ☕")
        }
    }

    @Test func anErrorWhileSteppingIsADatabaseErrorNamingTheStatement() async throws {
        let store = try Store(path: path, migrations: [Self.items])
        // abs() of the smallest 64-bit integer fails when the row is stepped, not when it is prepared.
        let sql = "SELECT abs(-9223372036854775807 - length(id)) FROM items WHERE id = ?"
        let error = #expect(throws: DatabaseError.self) {
            try store.readHere { db in try db.cachedStatement(sql: sql).fetchFirst(arguments: ["a"]) { $0.int64(0) } }
        }
        #expect(error?.sql == sql)
        #expect(error?.message?.contains("overflow") == true)
    }
}
