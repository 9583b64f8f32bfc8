#if canImport(Glibc)
import Glibc
#endif

/// Opens a directory below a root without ever leaving it: every component is opened relative to
/// its parent's descriptor with O_NOFOLLOW, symlinks are resolved by hand against the root, and
/// any resolution that climbs above the root is refused. This is what openat2(RESOLVE_IN_ROOT)
/// would do, written with calls every kernel has.
struct ConfinedDirectoryWalk {
    /// Symlinks followed per resolution before giving up, as the kernel's MAXSYMLINKS.
    static let maximumSymlinks = 40

    let root: String
    let operation: String

    /// Mode and owner for directories the walk creates; nil means do not create (ENOENT).
    struct Creation {
        var mode: mode_t
        var uid: uid_t
        var gid: gid_t
    }

    /// Opens `components` (relative to `root`, each non-empty and not "." or "..") as a directory,
    /// creating missing ones when `create` is given. Returns an owned O_DIRECTORY descriptor.
    func openDirectory(_ components: [String], create: Creation?) throws(GuestOperationError) -> Int32 {
        let rootFD = open(root, O_DIRECTORY | O_RDONLY | O_CLOEXEC)
        guard rootFD >= 0 else { throw .posix(operation, path: root) }
        // fds[i] is the directory reached after i components; fds[0] is the root.
        var fds: [Int32] = [rootFD]
        var names: [String] = []
        var pending = Array(components.reversed())
        var symlinks = 0
        var succeeded = false
        defer {
            for (index, fd) in fds.enumerated() where !(succeeded && index == fds.count - 1) { close(fd) }
        }

        while let name = pending.popLast() {
            if name.isEmpty || name == "." { continue }
            if name == ".." {
                guard names.popLast() != nil, let fd = fds.popLast() else {
                    throw escape(names: names, detail: "'..' climbs above \(root)")
                }
                close(fd)
                continue
            }
            let parent = fds[fds.count - 1]
            let shown = display(names + [name])
            var info = stat()
            if fstatat(parent, name, &info, AT_SYMLINK_NOFOLLOW) != 0 {
                guard errno == ENOENT, let create else { throw .posix(operation, path: shown) }
                if mkdirat(parent, name, create.mode) != 0 && errno != EEXIST {
                    throw .posix(operation + " (mkdir)", path: shown)
                }
                // Opened below with O_NOFOLLOW, so a racing symlink swap fails instead of escaping.
                let fd = openat(parent, name, O_DIRECTORY | O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
                guard fd >= 0 else { throw .posix(operation, path: shown) }
                fds.append(fd)
                names.append(name)
                // mkdir honours the umask; the request's mode is what the caller asked for.
                if fchmod(fd, create.mode) != 0 { throw .posix(operation + " (chmod)", path: shown) }
                if fchown(fd, create.uid, create.gid) != 0 { throw .posix(operation + " (chown)", path: shown) }
                continue
            }
            switch info.st_mode & S_IFMT {
            case S_IFDIR:
                let fd = openat(parent, name, O_DIRECTORY | O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
                guard fd >= 0 else { throw .posix(operation, path: shown) }
                fds.append(fd)
                names.append(name)
            case S_IFLNK:
                symlinks += 1
                guard symlinks <= Self.maximumSymlinks else {
                    throw GuestOperationError(.system, operation: operation, path: shown, errno: ELOOP, reason: "too many symlinks")
                }
                let target = try readLink(parent: parent, name: name, shown: shown)
                if target.hasPrefix("/") {
                    // An absolute target is only acceptable when it points into the root itself.
                    guard let inside = Self.relativeComponents(of: target, below: root) else {
                        throw escape(names: names + [name], detail: "symlink to '\(target)' leaves \(root)")
                    }
                    while fds.count > 1, let fd = fds.popLast() { close(fd) }
                    names.removeAll()
                    pending.append(contentsOf: inside.reversed())
                } else {
                    pending.append(contentsOf: target.split(separator: "/").map(String.init).reversed())
                }
            default:
                throw GuestOperationError(.system, operation: operation, path: shown, errno: ENOTDIR, reason: "not a directory")
            }
        }
        succeeded = true
        return fds[fds.count - 1]
    }

    /// Components of `path` below `root`, or nil when `path` is not `root` or inside it (lexically).
    static func relativeComponents(of path: String, below root: String) -> [String]? {
        let rootParts = root.split(separator: "/").map(String.init)
        var resolved: [String] = []
        for part in path.split(separator: "/") {
            switch part {
            case ".": continue
            case "..": if resolved.popLast() == nil { return nil }
            default: resolved.append(String(part))
            }
        }
        guard resolved.count >= rootParts.count, Array(resolved.prefix(rootParts.count)) == rootParts else { return nil }
        return Array(resolved.dropFirst(rootParts.count))
    }

    private func readLink(parent: Int32, name: String, shown: String) throws(GuestOperationError) -> String {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let count = readlinkat(parent, name, &buffer, buffer.count - 1)
        guard count >= 0 else { throw .posix(operation + " (readlink)", path: shown) }
        return String(decoding: buffer.prefix(count).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    private func display(_ names: [String]) -> String {
        names.isEmpty ? root : root + "/" + names.joined(separator: "/")
    }

    private func escape(names: [String], detail: String) -> GuestOperationError {
        GuestOperationError(.invalidArgument(field: "path"), operation: operation, path: display(names), errno: EXDEV, reason: detail)
    }
}
