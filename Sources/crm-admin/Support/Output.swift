import Foundation

/// Where crm-admin writes: results to stdout, progress and diagnostics to stderr, so a command's
/// stdout can be piped (`crm-admin export … > file.jsonl`).
enum Output {
    static func line(_ text: String) {
        print(text)
    }

    static func error(_ text: String) {
        FileHandle.standardError.write(Data((text + "\n").utf8))
    }

    static func flush() { fflush(nil) }  // every stream: a pipe reader sees results now

    static var stderrIsTerminal: Bool { isatty(STDERR_FILENO) != 0 }
    static var stdoutIsTerminal: Bool { isatty(STDOUT_FILENO) != 0 }

    /// Pads each column to its widest cell.
    static func table(_ header: [String], _ rows: [[String]]) -> [String] {
        var widths = header.map(\.count)
        for row in rows {
            for (index, cell) in row.enumerated() where index < widths.count { widths[index] = max(widths[index], cell.count) }
        }
        func format(_ row: [String]) -> String {
            row.enumerated().map { index, cell in
                index == row.count - 1 ? cell : cell.padding(toLength: widths[index], withPad: " ", startingAt: 0)
            }.joined(separator: "  ")
        }
        return [format(header)] + rows.map(format)
    }
}

/// A progress bar on stderr when it is a terminal; silent otherwise (logs and CI stay clean).
final class ProgressBar {
    private let total: Int
    private let label: String
    private let enabled: Bool
    private var lastDrawn = -1

    init(total: Int, label: String, enabled: Bool = Output.stderrIsTerminal) {
        self.total = total
        self.label = label
        self.enabled = enabled
    }

    func update(_ done: Int) {
        guard enabled, total > 0 else { return }
        let percent = done * 100 / total
        guard percent != lastDrawn || done == total else { return }
        lastDrawn = percent
        let width = 30
        let filled = done * width / total
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
        FileHandle.standardError.write(Data("\r\(label) [\(bar)] \(done)/\(total) \(percent)%".utf8))
        if done == total { FileHandle.standardError.write(Data("\n".utf8)) }
    }
}

enum Milliseconds {
    static func of(_ duration: Duration) -> Double {
        Double(duration.components.seconds) * 1000 + Double(duration.components.attoseconds) / 1e15
    }

    static func text(_ duration: Duration) -> String { String(format: "%.1f ms", of(duration)) }
}
