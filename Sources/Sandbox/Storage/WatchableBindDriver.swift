import LinuxKit

/// `watchable-bind`: a configMap/secret directory on the virtio-fs share mirrored into the
/// watchable tmpfs so inotify works in the container (see `BindWatcher`). The storage's
/// mount point is the mirror; the container's OCI mount binds it.
public struct WatchableBindDriver: StorageDriver {
    public let names = ["watchable-bind"]
    public let watcher: BindWatcher

    public init(watcher: BindWatcher = BindWatcher()) {
        self.watcher = watcher
    }

    public func mount(_ storage: StorageRequest, context: StorageContext) async throws(SandboxError) -> MountedStorage {
        try watcher.add(storage, context: context)
    }

    public func release(_ mounted: MountedStorage, context: StorageContext) async throws(SandboxError) {
        watcher.remove(mounted.mountPoint, context: context)
    }
}
