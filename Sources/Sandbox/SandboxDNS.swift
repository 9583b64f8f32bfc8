import LinuxKit
import Logging

/// CreateSandbox.dns -> resolv.conf.
enum SandboxDNS {
    /// Writes the entries, trimmed, one per line. The file is rewritten in place (same inode)
    /// so bind mounts of it into containers see the new contents. No entries: untouched.
    static func write(_ entries: [String], to path: String, system: any SystemCalls, logger: Logger) throws(SandboxError) {
        guard !entries.isEmpty else {
            logger.info("no DNS in CreateSandbox; resolv.conf untouched")
            return
        }
        var lines: [String] = []
        for entry in entries {
            let line = entry.trimmedDNSEntry
            // One entry is one line: an embedded newline would smuggle in other directives.
            guard !line.contains("\n"), !line.contains("\r"), !line.utf8.contains(0) else {
                throw SandboxError(.invalidArgument, "dns entry \"\(entry)\" contains a line break or NUL")
            }
            if !line.isEmpty { lines.append(line) }
        }
        if system.fileKind(path)?.kind == .directory {
            throw SandboxError(.failedPrecondition, "\(path) is a directory")
        }
        do {
            try system.writeFileInPlace(path, contents: lines.joined(separator: "\n") + "\n", mode: 0o644)
        } catch {
            throw SandboxError.system("write \(path)", error)
        }
    }
}

private extension String {
    var trimmedDNSEntry: String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" }
        return String(drop(while: isSpace).reversed().drop(while: isSpace).reversed())
    }
}
