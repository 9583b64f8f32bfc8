import CLinuxShim
import Glibc

/// A mount destination opened inside the container root, created there if missing, and
/// mounted on through its descriptor (runc's answer to CVE-2021-30465).
///
/// Resolving the destination to a string and mounting on that string later leaves a window in
/// which a process sharing a volume with this container swaps a path component for a symlink,
/// and the mount lands outside the root. Here every lookup is openat2(RESOLVE_IN_ROOT) from a
/// descriptor of the root, missing directories are made with mkdirat() on the parent's
/// descriptor, and the mount targets /proc/self/fd/N: whatever the tree looks like by then, the
/// object mounted on is the one found inside the root. A symlink loop fails (ELOOP) instead of
/// being taken literally.
struct RootedTarget {
    let fd: Int32

    /// The path mount(2) and friends use for the opened object.
    var procPath: String { "/proc/self/fd/\(fd)" }

    /// Opens (creating if missing: directories, or an empty file as the last component when
    /// `directory` is false) `path` under `root`, every step resolved inside `root`.
    init(root: String, path: String, directory: Bool, step: String) throws {
        let rootFD = engine_open_path_directory(root)
        guard rootFD >= 0 else { throw InitFailure(step, errno: -rootFD, "open root \(root)") }
        defer { Glibc.close(rootFD) }
        let parts = path.split(separator: "/").map(String.init).filter { $0 != "." }
        var current = dup(rootFD)
        guard current >= 0 else { throw InitFailure(step, errno: errno, "dup root descriptor") }
        var prefix = ""
        for (index, part) in parts.enumerated() {
            prefix += (prefix.isEmpty ? "" : "/") + part
            let last = index == parts.count - 1
            let next: Int32
            do {
                next = try Self.openOrCreate(
                    rootFD: rootFD, parentFD: current, prefix: prefix, name: part,
                    asFile: last && !directory, step: step)
            } catch {
                Glibc.close(current)
                throw error
            }
            Glibc.close(current)
            current = next
        }
        self.fd = current
    }

    /// Closes the descriptor; the caller's `defer`, once the mount no longer needs it.
    func close() {
        _ = Glibc.close(fd)
    }

    /// The object at `prefix` (resolved in the root), made as `name` under `parentFD` first when
    /// nothing is there. Creating relative to the parent's descriptor never follows a symlink
    /// out: if one appears under `name` meanwhile, mkdirat fails with EEXIST and the lookup that
    /// follows resolves it inside the root.
    private static func openOrCreate(
        rootFD: Int32, parentFD: Int32, prefix: String, name: String, asFile: Bool, step: String
    ) throws -> Int32 {
        var created = false
        while true {
            let fd = engine_openat2_in_root(rootFD, prefix)
            if fd >= 0 { return fd }
            let code = -fd
            if code == ELOOP {
                throw InitFailure(step, errno: code, "'\(prefix)' resolves through a symlink loop")
            }
            guard code == ENOENT, !created, name != ".." else {
                throw InitFailure(step, errno: code, "open '\(prefix)' inside the container root")
            }
            created = true
            if asFile {
                let file = openat(parentFD, name, O_CREAT | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0o644)
                if file >= 0 {
                    Glibc.close(file)
                } else if errno != EEXIST && errno != ELOOP && errno != EISDIR {
                    throw InitFailure(step, errno: errno, "create '\(prefix)'")
                }
            } else if mkdirat(parentFD, name, 0o755) != 0 && errno != EEXIST {
                throw InitFailure(step, errno: errno, "mkdir '\(prefix)'")
            }
        }
    }
}
