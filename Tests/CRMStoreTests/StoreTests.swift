import CRMStore
import Foundation
import GRDB
import Synchronization
import Testing

@Suite("SQLite store")
struct StoreTests {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("store-\(UUID().uuidString)/test.sqlite").path

    static let v1 = Migration(1, "create-items") { db in
        try db.execute(sql: "CREATE TABLE items (id TEXT PRIMARY KEY, name TEXT NOT NULL)")
    }
    static let v2 = Migration(2, "add-price") { db in
        try db.execute(sql: "ALTER TABLE items ADD COLUMN price INTEGER NOT NULL DEFAULT 0")
    }

    @Test func migratesRecordsVersionsAndUsesWAL() throws {
        let store = try Store(path: path, migrations: [Self.v1, Self.v2])
        #expect(try store.schemaStatus().current == 2)
        #expect(try store.schemaStatus().pending.isEmpty)
        let mode = try store.pool.read { db in try String.fetchOne(db, sql: "PRAGMA journal_mode") }
        #expect(mode == "wal")
        #expect(try store.integrityCheck() == ["ok"])
    }

    @Test func upgradesAnOldStoreWithoutLosingRows() throws {
        do {
            let old = try Store(path: path, migrations: [Self.v1])
            try old.pool.write { db in
                for i in 0..<100 { try db.execute(sql: "INSERT INTO items (id, name) VALUES (?, ?)", arguments: ["\(i)", "n\(i)"]) }
            }
        }
        let upgraded = try Store(path: path, migrations: [Self.v1, Self.v2])
        let count = try upgraded.pool.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM items WHERE price = 0") }
        #expect(count == 100)
    }

    @Test func refusesAStoreWrittenByANewerVersion() throws {
        _ = try Store(path: path, migrations: [Self.v1, Self.v2])
        #expect(throws: StoreError.self) { _ = try Store(path: path, migrations: [Self.v1]) }
    }

    @Test func aFailedRequestLeavesNothingHalfWritten() async throws {
        let store = try Store(path: path, migrations: [Self.v1])
        struct Refused: Error {}
        await #expect(throws: Refused.self) {
            try await store.write { db in
                try db.execute(sql: "INSERT INTO items (id, name) VALUES ('a', 'first')")
                throw Refused()
            }
        }
        let count = try await store.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM items") }
        #expect(count == 0)
    }

    @Test func backupIsAConsistentCopy() throws {
        let store = try Store(path: path, migrations: [Self.v1])
        try store.pool.write { db in try db.execute(sql: "INSERT INTO items (id, name) VALUES ('a', 'b')") }
        let copyPath = path + ".backup"
        try store.backup(to: copyPath)
        let copy = try Store(path: copyPath, migrations: [Self.v1])
        #expect(try copy.integrityCheck() == ["ok"])
        #expect(try copy.pool.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM items") } == 1)
    }

    /// Group commit: many concurrent writes, some failing, share commits; each failing one leaves
    /// nothing and gets its own error, every other one is stored and answered with its own result.
    @Test func groupedWritesCommitTogetherAndFailAlone() async throws {
        let store = try Store(path: path, migrations: [Self.v1])
        let commits = CommitCounter()
        store.pool.add(transactionObserver: commits, extent: .databaseLifetime)
        struct Refused: Error, Equatable { let id: Int }
        let outcomes = await withTaskGroup(of: (Int, Result<String, Refused>).self) { group in
            for i in 0..<300 {
                group.addTask {
                    do {
                        let answer = try await store.writeInGroup { db -> String in
                            try db.execute(sql: "INSERT INTO items (id, name) VALUES (?, ?)", arguments: ["\(i)", "n\(i)"])
                            if i % 7 == 0 { throw Refused(id: i) }  // after writing: its row must vanish
                            return "stored \(i)"
                        }
                        return (i, .success(answer))
                    } catch let error as Refused {
                        return (i, .failure(error))
                    } catch {
                        return (i, .failure(Refused(id: -1)))
                    }
                }
            }
            var all: [Int: Result<String, Refused>] = [:]
            for await (i, outcome) in group { all[i] = outcome }
            return all
        }
        for i in 0..<300 {
            #expect(outcomes[i] == (i % 7 == 0 ? .failure(Refused(id: i)) : .success("stored \(i)")))
        }
        #expect(commits.count.withLock { $0 } < 300, "concurrent writes should share commits")
        let stored = try await store.read { db in try String.fetchAll(db, sql: "SELECT id FROM items") }
        #expect(Set(stored) == Set((0..<300).filter { $0 % 7 != 0 }.map { "\($0)" }))
        // A write in a group sees the writes before it, as if each had its own transaction.
        await #expect(throws: DatabaseError.self) {
            try await store.writeInGroup { db in try db.execute(sql: "INSERT INTO items (id, name) VALUES ('1', 'again')") }
        }
        #expect(try store.integrityCheck() == ["ok"])
    }

    /// Reads on the calling thread: concurrent ones (on many threads, each lent a connection) get
    /// their own answers, a failing one fails alone, a read after an acknowledged write sees it, and
    /// a reader connection cannot write.
    @Test func threadReadsAnswerEachAndSeeAcknowledgedWrites() async throws {
        let store = try Store(path: path, migrations: [Self.v1])
        try await store.write { db in
            for i in 0..<200 { try db.execute(sql: "INSERT INTO items (id, name) VALUES (?, ?)", arguments: ["\(i)", "n\(i)"]) }
        }
        let answers = await withTaskGroup(of: (Int, String).self) { group in
            for i in 0..<400 {
                group.addTask {
                    let answer = try? store.readHere { db -> String in
                        if i % 9 == 0 { _ = try Row.fetchAll(db, sql: "SELECT * FROM no_such_table") }
                        return try String.fetchOne(db, sql: "SELECT name FROM items WHERE id = ?", arguments: ["\(i)"]) ?? "none"
                    }
                    return (i, answer ?? "failed")
                }
            }
            var all: [Int: String] = [:]
            for await (i, answer) in group { all[i] = answer }
            return all
        }
        for i in 0..<400 {
            let expected = i % 9 == 0 ? "failed" : (i < 200 ? "n\(i)" : "none")
            #expect(answers[i] == expected, "read \(i)")
        }
        for i in 0..<50 {
            try await store.write { db in try db.execute(sql: "UPDATE items SET name = ? WHERE id = '1'", arguments: ["v\(i)"]) }
            let seen = try store.readHere { db in try String.fetchOne(db, sql: "SELECT name FROM items WHERE id = '1'") }
            #expect(seen == "v\(i)")
        }
        #expect(throws: DatabaseError.self) {
            try store.readHere { db in try db.execute(sql: "DELETE FROM items") }
        }
        #expect(try await store.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM items") } == 200)
    }
}

/// Counts the commits of the writer connection.
final class CommitCounter: TransactionObserver, Sendable {
    let count = Mutex(0)
    func observes(eventsOfKind eventKind: DatabaseEventKind) -> Bool { true }
    func databaseDidChange(with event: DatabaseEvent) {}
    func databaseDidCommit(_ db: Database) { count.withLock { $0 += 1 } }
    func databaseDidRollback(_ db: Database) {}
}
