import Glibc
import LinuxKit

/// fs_group: a volume's files get the pod's group, as upstream's set_ownership (and the
/// kubelet): files gain g+rw (g+r only when mounted `ro`), directories also g+x and setgid so
/// new files inherit the group. Symlinks are skipped (chmod would follow them).
enum FSGroupOwnership {
    static let readWriteMask: mode_t = 0o660
    static let readOnlyMask: mode_t = 0o440
    static let executeMask: mode_t = 0o110
    static let setgid: mode_t = 0o2000

    /// Applies `group` to everything under `root` unless the policy is OnRootMismatch and the
    /// root already has the group and the permission bits (then nothing is touched).
    /// Returns whether the walk ran.
    @discardableResult
    static func apply(_ group: FSGroup, root: String, readOnly: Bool, files: any StorageSystemCalls,
                      system: any SystemCalls) throws(SandboxError) -> Bool {
        guard let status = files.status(root, followLinks: true) else {
            throw SandboxError(.system, "fs_group \(group.groupID): \(root) does not exist", errno: ENOENT)
        }
        if group.changePolicy == .onRootMismatch, status.gid == group.groupID {
            let mask = (readOnly ? readOnlyMask : readWriteMask) | executeMask
            if status.permissions & mask == mask, status.permissions & setgid != 0 { return false }
        }
        var visited = 0
        try change(root, gid: group.groupID, readOnly: readOnly, files: files, system: system, depth: 0, visited: &visited)
        return true
    }

    /// Bounds the walk: a volume deeper than this is refused rather than overflowing the stack.
    static let maximumDepth = 256

    private static func change(_ path: String, gid: UInt32, readOnly: Bool, files: any StorageSystemCalls,
                               system: any SystemCalls, depth: Int, visited: inout Int) throws(SandboxError) {
        guard depth <= maximumDepth else {
            throw SandboxError(.system, "fs_group \(gid): \(path) is nested deeper than \(maximumDepth) directories")
        }
        guard let status = files.status(path, followLinks: false) else { return }  // removed meanwhile
        if status.kind == .symlink { return }
        var mask = readOnly ? readOnlyMask : readWriteMask
        if status.kind == .directory {
            let names: [String]
            do {
                names = try system.listDirectory(path)
            } catch {
                throw SandboxError.system("fs_group \(gid): list", error)
            }
            for name in names.sorted() {
                try change(path == "/" ? "/" + name : path + "/" + name, gid: gid, readOnly: readOnly, files: files,
                           system: system, depth: depth + 1, visited: &visited)
            }
            mask |= executeMask | setgid
        }
        do {
            try files.changeOwner(path, uid: nil, gid: gid)
            try files.changeMode(path, mode: status.permissions | mask)
        } catch {
            throw SandboxError.system("fs_group \(gid)", error)
        }
        visited += 1
    }
}
