import Glibc

/// Resolves a container path inside a root directory, following symlinks as if `root` were
/// "/" so that no symlink in the (untrusted) rootfs can point a mount outside of it.
public enum SecureJoin {
    /// Returns `root` + the resolved form of `path`. Missing components are kept literally
    /// (they are created later, as directories or files, under the resolved parent). A path
    /// that goes through more than `maxLinks` symlinks (a loop) is an error, not taken literally:
    /// the literal name is a symlink that a later mount would follow out of the root.
    public static func join(
        root: String, _ path: String, readLink: (String) -> String? = SecureJoin.readLink
    ) throws(SecureJoinError) -> String {
        let rootTrimmed = root.hasSuffix("/") ? String(root.dropLast()) : root
        return rootTrimmed + "/" + (try resolve(root: root, path, readLink: readLink))
    }

    /// The resolved form of `path` relative to `root` (no leading "/"; "" for the root itself).
    public static func resolve(
        root: String, _ path: String, readLink: (String) -> String? = SecureJoin.readLink
    ) throws(SecureJoinError) -> String {
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
            if let target = readLink(candidate) {
                guard links < maxLinks else { throw SecureJoinError(path: path, links: links) }
                links += 1
                if target.hasPrefix("/") { resolved = [] }
                pending = components(target) + pending
                continue
            }
            resolved.append(part)
        }
        return resolved.joined(separator: "/")
    }

    /// The kernel's own limit (MAXSYMLINKS) on symlinks followed in one lookup.
    public static let maxLinks = 40

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

/// A container path that resolves through too many symlinks (a loop).
public struct SecureJoinError: Error, CustomStringConvertible {
    public let path: String
    public let links: Int
    public var description: String { "'\(path)' resolves through more than \(links) symlinks (a loop)" }
}
