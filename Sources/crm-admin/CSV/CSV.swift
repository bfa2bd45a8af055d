import Foundation

/// RFC 4180 CSV as other CRMs export it: quoted fields with doubled quotes, line breaks inside
/// quotes, CRLF or LF, an optional UTF-8 byte-order mark, any one-character delimiter.
struct CSVTable {
    struct Record {
        /// 1-based position among the data rows (the header is not a row).
        var row: Int
        /// The file line the record starts on (the header is line 1).
        var line: Int
        var fields: [String]
    }

    var header: [String]
    var records: [Record]

    struct SyntaxError: Error, CustomStringConvertible {
        var line: Int
        var reason: String
        var description: String { "CSV line \(line): \(reason)" }
    }

    static func parse(_ text: String, delimiter: Character = ",") throws -> CSVTable {
        var rows: [(line: Int, fields: [String])] = []
        var field = ""
        var fields: [String] = []
        var inQuotes = false
        var afterQuote = false
        var line = 1
        var recordLine = 1
        var iterator = (text.first == "\u{FEFF}" ? String(text.dropFirst()) : text).makeIterator()
        var pending: Character? = nil

        func endRecord() {
            fields.append(field)
            // A line with nothing on it is not a record.
            if !(fields.count == 1 && fields[0].isEmpty) { rows.append((recordLine, fields)) }
            fields = []
            field = ""
        }

        while let character = pending ?? iterator.next() {
            pending = nil
            if inQuotes {
                if character == "\"" {
                    if let next = iterator.next() {
                        if next == "\"" { field.append("\"") } else { inQuotes = false; afterQuote = true; pending = next }
                    } else {
                        inQuotes = false
                    }
                } else {
                    if character == "\n" || character == "\r\n" { line += 1 }
                    field.append(character)
                }
                continue
            }
            switch character {
            case "\"" where field.isEmpty && !afterQuote:
                inQuotes = true
            case delimiter:
                fields.append(field)
                field = ""
                afterQuote = false
            case "\n", "\r\n", "\r":
                endRecord()
                afterQuote = false
                line += 1
                recordLine = line
            default:
                if afterQuote { throw SyntaxError(line: line, reason: "text after a closing quote") }
                field.append(character)
            }
        }
        if inQuotes { throw SyntaxError(line: recordLine, reason: "a quoted field never ends") }
        if !field.isEmpty || !fields.isEmpty { endRecord() }
        guard let first = rows.first else { throw SyntaxError(line: 1, reason: "no header line") }
        let header = first.fields.map { $0.trimmingCharacters(in: .whitespaces) }
        let records = rows.dropFirst().enumerated().map { index, row in
            Record(row: index + 1, line: row.line, fields: row.fields)
        }
        return CSVTable(header: header, records: records)
    }
}
