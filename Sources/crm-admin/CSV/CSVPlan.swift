import Foundation

/// The mapping of one file: which column fills which field, plus constants for every row.
struct CSVPlan {
    struct Column {
        var index: Int
        var target: FieldTarget
    }

    let resolver: CSVFieldResolver
    var columns: [Column] = []
    var constants: [(target: FieldTarget, value: Any)] = []
    var ignored: [String] = []

    init(table: CSVTable, mappings: [String], constants: [String], resolver: CSVFieldResolver) throws {
        self.resolver = resolver
        func split(_ text: String, _ option: String) throws -> (String, String) {
            guard let equals = text.firstIndex(of: "=") else {
                throw AdminError("\(option) \(text): expected FIELD=\(option == "--map" ? "COLUMN" : "VALUE")", code: AdminExit.usage)
            }
            return (String(text[..<equals]).trimmingCharacters(in: .whitespaces), String(text[text.index(after: equals)...]))
        }
        var used = Set<Int>()
        var mappedKeys = Set<[String]>()
        for mapping in mappings {
            let (field, column) = try split(mapping, "--map")
            guard let index = table.header.firstIndex(where: { $0 == column })
                    ?? table.header.firstIndex(where: { $0.lowercased() == column.lowercased() }) else {
                throw AdminError("--map \(mapping): no column '\(column)' (columns: \(table.header.joined(separator: ", ")))", code: AdminExit.usage)
            }
            let target = try resolver.resolve(field)
            columns.append(Column(index: index, target: target))
            used.insert(index)
            mappedKeys.insert(target.keys)
        }
        for constant in constants {
            let (field, text) = try split(constant, "--set")
            let target = try resolver.resolve(field)
            do {
                if let value = try resolver.value(text, for: target) { self.constants.append((target, value)) }
            } catch let error as CSVCellError {
                throw AdminError("--set \(constant): \(error.reason)", code: AdminExit.usage)
            }
            mappedKeys.insert(target.keys)
        }
        // Columns whose header names a field map themselves.
        for (index, header) in table.header.enumerated() where !used.contains(index) {
            if let target = try? resolver.resolve(CSVFieldResolver.snake(header)), !mappedKeys.contains(target.keys) {
                columns.append(Column(index: index, target: target))
                mappedKeys.insert(target.keys)
            } else {
                ignored.append(header)
            }
        }
        guard !columns.isEmpty else {
            throw AdminError("no column maps to a field: use --map FIELD=COLUMN", code: AdminExit.usage)
        }
    }

    /// The row's request in proto3 JSON (as JSONSerialization would parse it); every bad cell of
    /// the row is named in one error.
    func request(for record: CSVTable.Record, kind: CSVKind, fileKey: String) throws -> [String: Any] {
        var tree: Any = [String: Any]()
        var problems: [String] = []
        for (target, value) in constants { assign(value, at: target.keys[...], in: &tree) }
        for column in columns {
            let cell = column.index < record.fields.count ? record.fields[column.index] : ""
            do {
                if let value = try resolver.value(cell, for: column.target) { assign(value, at: column.target.keys[...], in: &tree) }
            } catch let error as CSVCellError {
                problems.append(error.description)
            }
        }
        if !problems.isEmpty { throw CSVRowError(problems: problems) }
        // Stable per row and content: re-running the file replays, a corrected row is new. Sorted
        // keys, because a dictionary's order is not stable from one run to the next.
        let content = Fingerprint.text(String(decoding: try JSONSerialization.data(withJSONObject: tree, options: [.sortedKeys]),
                                              as: UTF8.self))
        assign("csv-\(kind.name)-\(fileKey)-\(record.row)-\(content)", at: ["requestId"], in: &tree)
        if kind.method == nil { assign(String(record.row), at: ["rowNumber"], in: &tree) }
        return tree as? [String: Any] ?? [:]
    }
}

/// Every bad cell of one row, named with its field.
struct CSVRowError: Error, CustomStringConvertible {
    var problems: [String]
    var description: String { problems.joined(separator: "; ") }
}
