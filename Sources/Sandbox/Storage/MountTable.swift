import LinuxKit

/// The mount points of /proc/self/mountinfo (field 5, octal escapes such as \040 undone).
enum MountTable {
    static func mountPoints(system: any SystemCalls, path: String) throws(SandboxError) -> [String] {
        let text: String
        do {
            text = try system.readFile(path)
        } catch {
            throw SandboxError.system("read the mount table", error)
        }
        var points: [String] = []
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: false)
            guard fields.count > 4 else { continue }
            points.append(unescape(fields[4]))
        }
        return points
    }

    static func isMountPoint(_ path: String, system: any SystemCalls, table: String) -> Bool {
        let wanted = normalized(path)
        return ((try? mountPoints(system: system, path: table)) ?? []).contains { normalized($0) == wanted }
    }

    /// "/a/b/" and "/a/b" are the same mount point (the runtimes send the share with a slash).
    static func normalized(_ path: String) -> String {
        var trimmed = Substring(path)
        while trimmed.count > 1, trimmed.hasSuffix("/") { trimmed = trimmed.dropLast() }
        return String(trimmed)
    }

    /// The kernel escapes space, tab, newline and backslash as \ooo.
    static func unescape(_ field: Substring) -> String {
        var bytes: [UInt8] = []
        let raw = Array(field.utf8)
        var index = 0
        while index < raw.count {
            if raw[index] == UInt8(ascii: "\\"), index + 3 < raw.count {
                let digits = raw[(index + 1)...(index + 3)]
                if digits.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "7") }),
                   let value = UInt8(String(decoding: digits, as: UTF8.self), radix: 8) {
                    bytes.append(value)
                    index += 4
                    continue
                }
            }
            bytes.append(raw[index])
            index += 1
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
