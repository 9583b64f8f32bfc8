import LinuxKit

/// RemoveStaleVirtiofsShareMounts: stat() every mount point under the virtio-fs share. The
/// lookups make virtiofsd notice host paths that were unmounted and drop their inodes and
/// file descriptors; the results do not matter (upstream ignores them too).
public enum StaleShareMounts {
    /// Returns how many mount points were visited.
    @discardableResult
    public static func touch(context: StorageContext) throws(SandboxError) -> Int {
        let share = MountTable.normalized(context.paths.sharedContainers) + "/"
        var visited = 0
        for point in try MountTable.mountPoints(system: context.system, path: context.paths.mountInfo) where point.hasPrefix(share) {
            _ = context.files.status(point, followLinks: true)
            visited += 1
        }
        return visited
    }
}
