import LinuxKit

/// Parsing of the `key=value` driver options and option words the storage drivers share.
enum StorageOptions {
    /// The option that carries a group id for ephemeral and local storages (not a mount option).
    static let fsGID = "fsgid"

    /// `key=value` entries (each entry may hold comma-separated words). With `allowed`, other
    /// keys and bare words are refused; without, bare words are skipped (upstream's parse_options).
    static func keyValues(_ options: [String], allowed: Set<String>? = nil, what: String) throws(SandboxError) -> [String: String] {
        var result: [String: String] = [:]
        for word in options.flatMap({ $0.split(separator: ",") }) {
            guard let equals = word.firstIndex(of: "=") else {
                if allowed == nil { continue }
                throw SandboxError(.invalidArgument, "\(what): option \"\(word)\" is not key=value")
            }
            let key = String(word[..<equals])
            if let allowed, !allowed.contains(key) {
                throw SandboxError(.invalidArgument, "\(what): option \"\(key)\" is not supported (supported: \(allowed.sorted().joined(separator: ", ")))")
            }
            result[key] = String(word[word.index(after: equals)...])
        }
        return result
    }

    static func groupID(_ text: String, what: String) throws(SandboxError) -> UInt32 {
        guard let gid = UInt32(text), gid != UInt32.max else {
            throw SandboxError(.invalidArgument, "\(what): fsgid \"\(text)\" is not a group id")
        }
        return gid
    }

    /// A byte count: digits with an optional binary suffix (k, m, g, t, p, e; "K", "KB", "KiB"
    /// alike, as the kernel's memparse), checked: an overflowing value is an error, not a trap.
    static func byteCount(_ text: String, field: String, what: String) throws(SandboxError) -> UInt64 {
        let digits = text.prefix { $0 >= "0" && $0 <= "9" }
        var suffix = text.dropFirst(digits.count).lowercased()
        if suffix.hasSuffix("ib") { suffix.removeLast(2) } else if suffix.hasSuffix("b") { suffix.removeLast() }
        let shifts: [String: UInt64] = ["": 0, "k": 10, "m": 20, "g": 30, "t": 40, "p": 50, "e": 60]
        guard !digits.isEmpty, let value = UInt64(digits), let shift = shifts[suffix] else {
            throw SandboxError(.invalidArgument, "\(what): \(field) \"\(text)\" is not a byte count")
        }
        let (result, overflow) = value.multipliedReportingOverflow(by: UInt64(1) << shift)
        guard !overflow else {
            throw SandboxError(.invalidArgument, "\(what): \(field) \"\(text)\" does not fit in 64 bits")
        }
        return result
    }
}
