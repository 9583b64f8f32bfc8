import Glibc

/// Resolves a container path inside a root directory, following symlinks as if `root` were
/// "/" so that no symlink in the (untrusted) rootfs can point a mount outside of it.
public enum SecureJoin {
    /// Returns `root` + the resolved form of `path`. Missing components are kept literally
    /// (they are created later, as directories or files, under the resolved parent).
    public static func join(root: String, _ path: String, readLink: (String) -> String? = SecureJoin.readLink) -> String {
        var resolved: [String] = []
        var pending = components(path)
        var links = 0
        while !pending.isEmpty {
            let part = pending.removeFirst()
            if part == "." { continue }
            if part == ".." {
                if !resolved.isEmpty { resolved.removeLast() }
                continue
            }
            let candidate = root + "/" + (resolved + [part]).joined(separator: "/")
            if let target = readLink(candidate), links < 255 {
                links += 1
                if target.hasPrefix("/") { resolved = [] }
                pending = components(target) + pending
                continue
            }
            resolved.append(part)
        }
        let rootTrimmed = root.hasSuffix("/") ? String(root.dropLast()) : root
        return rootTrimmed + "/" + resolved.joined(separator: "/")
    }

    static func components(_ path: String) -> [String] {
        path.split(separator: "/").map(String.init)
    }

    /// The target of a symlink, or nil when `path` is not a symlink.
    public static func readLink(_ path: String) -> String? {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = Glibc.readlink(path, &buffer, Int(PATH_MAX))
        guard n > 0 else { return nil }
        return String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
