import LinuxKit
import Logging

/// CreateSandbox.dns -> resolv.conf.
///
/// As upstream (ag/network.rs): the lines go to the sandbox's own file under
/// /run/kata-containers/sandbox, bind-mounted over the guest's /etc/resolv.conf when that file
/// exists. The guest root is often read-only (image, erofs, DAX), so writing /etc/resolv.conf
/// itself would fail there; /run is the agent's tmpfs.
enum SandboxDNS {
    /// Where upstream keeps the sandbox's resolv.conf.
    static let sandboxFile = "/run/kata-containers/sandbox/resolv.conf"

    /// Writes the entries, trimmed, one per line. With `sandboxCopy`, into that file, which is
    /// then bind-mounted over `path` (only if `path` exists); without, into `path` in place
    /// (same inode, so bind mounts of it into containers see the new contents). No entries:
    /// nothing is touched.
    static func write(_ entries: [String], to path: String, via sandboxCopy: String? = nil,
                      system: any SystemCalls, logger: Logger) throws(SandboxError) {
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
        let contents = lines.joined(separator: "\n") + "\n"
        guard let sandboxCopy else {
            try writeInPlace(contents, to: path, system: system)
            return
        }
        let parent = String(sandboxCopy[..<(sandboxCopy.lastIndex(of: "/") ?? sandboxCopy.startIndex)])
        if !parent.isEmpty {
            do {
                try system.makeDirectory(parent, mode: 0o755)
            } catch {
                throw SandboxError.system("create \(parent) for resolv.conf", error)
            }
        }
        try writeInPlace(contents, to: sandboxCopy, system: system)
        guard let kind = system.fileKind(path), kind.kind == .regular || kind.kind == .symlink else {
            logger.warning("the guest has no \(path) to bind the sandbox's resolv.conf over",
                           metadata: ["resolv.conf": "\(sandboxCopy)"])
            return
        }
        do {
            try system.mount(source: sandboxCopy, target: path, fsType: "", flags: .bind, data: "")
        } catch {
            throw SandboxError.system("bind-mount \(sandboxCopy) over", error)
        }
        logger.info("DNS configured", metadata: ["resolv.conf": "\(sandboxCopy)", "bound-over": "\(path)", "lines": "\(lines.count)"])
    }

    private static func writeInPlace(_ contents: String, to path: String, system: any SystemCalls) throws(SandboxError) {
        if system.fileKind(path)?.kind == .directory {
            throw SandboxError(.failedPrecondition, "\(path) is a directory")
        }
        do {
            try system.writeFileInPlace(path, contents: contents, mode: 0o644)
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
