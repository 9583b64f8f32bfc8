import Glibc

/// `mkdir -p` that starts at the deepest directory: where the parent exists (the common case)
/// it costs one mkdir instead of one per path component. An existing entry at any level counts
/// as created, as `mkdir -p` has it.
public enum Directories {
    /// Creates `path` and its missing parents; nil, or the directory that failed and its errno.
    public static func create(_ path: String, mode: mode_t = 0o755) -> (path: String, errno: Int32)? {
        var missing: [String] = []
        var current = Substring(path)
        while current.count > 1 && current.hasSuffix("/") { current = current.dropLast() }
        while true {
            let text = String(current)
            if mkdir(text, mode) == 0 || errno == EEXIST { break }
            let code = errno
            // ENOENT: a parent is missing; go up until one exists (or the root says why not).
            guard code == ENOENT, let slash = current.lastIndex(of: "/"), slash > current.startIndex else {
                return (text, code)
            }
            missing.append(text)
            current = current[..<slash]
        }
        for directory in missing.reversed() where mkdir(directory, mode) != 0 && errno != EEXIST {
            return (directory, errno)
        }
        return nil
    }
}
