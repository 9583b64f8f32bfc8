import LinuxKit
import Logging

/// A storage driver: turns one `StorageRequest` whose `driver` it serves into something
/// mounted (or a directory prepared) at the request's mount point, and undoes it when the
/// last user of that mount point goes. One driver per file (Storage/<Name>Driver.swift).
///
/// Drivers are instances so they can carry their own dependencies (a uevent listener, a
/// watcher): the registry is built at agent start from constructed drivers. Ref counting
/// by mount point, undo on failure and the fs_group policy of the generic path are the
/// framework's job (`StorageManager`, `StorageMounter`), not the driver's.
public protocol StorageDriver: Sendable {
    /// The agent.proto driver names this driver serves, e.g. ["virtio-fs"] or ["blk", "virtio-blk"].
    var names: [String] { get }

    /// Sets the storage up. Called only when no other user holds `storage.mountPoint`.
    /// On failure the driver leaves nothing mounted (the framework undoes earlier storages).
    func mount(_ storage: StorageRequest, context: StorageContext) async throws(SandboxError) -> MountedStorage

    /// Undoes `mount` when the last user of the mount point is gone. The default unmounts
    /// (lazily) when `mounted.isMount`, and does nothing for plain directories.
    func release(_ mounted: MountedStorage, context: StorageContext) async throws(SandboxError)

    /// Whether what `mount` set up holds pod data that must outlive its last container (a
    /// memory emptyDir: a restarted container, or the app container after an init container,
    /// finds what was written): then it stays until the sandbox is destroyed. Default false.
    var keptForPod: Bool { get }
}

extension StorageDriver {
    public var keptForPod: Bool { false }

    public func release(_ mounted: MountedStorage, context: StorageContext) async throws(SandboxError) {
        guard mounted.isMount else { return }
        do {
            try context.system.unmount(target: mounted.mountPoint, detach: true)
        } catch {
            throw SandboxError.system("unmount \(mounted.driver) storage", error)
        }
    }
}

/// What a driver set up, kept until the last user of its mount point goes.
public struct MountedStorage: Sendable, Equatable {
    /// The request's driver name (as sent, e.g. "virtio-blk" even if served by "blk").
    public var driver: String
    public var mountPoint: String
    /// Whether releasing it must unmount (false for plain directories such as `local`).
    public var isMount: Bool
    /// What was mounted: a device node found by a block driver, a virtio-fs tag, a tmpfs name.
    public var source: String
    public var fsType: String

    public init(driver: String, mountPoint: String, isMount: Bool, source: String = "", fsType: String = "") {
        self.driver = driver
        self.mountPoint = mountPoint
        self.isMount = isMount
        self.source = source
        self.fsType = fsType
    }
}

/// What every driver may use: the syscall seams, the hot-plug budget, paths and the logger.
public struct StorageContext: Sendable {
    /// Mount, unmount, mkdir, small file reads/writes (LinuxKit's seam).
    public var system: any SystemCalls
    /// Ownership, stat, statfs, byte copies, swapon (the storage seam).
    public var files: any StorageSystemCalls
    /// How long a driver may wait for a hot-plugged device (agent.hotplug_timeout, default 3 s).
    public var hotplugTimeout: Duration
    public var paths: StoragePaths
    /// The container the storage belongs to; nil for CreateSandbox's storages.
    public var containerID: String?
    public var logger: Logger

    public init(system: any SystemCalls, files: any StorageSystemCalls, hotplugTimeout: Duration = .seconds(3),
                paths: StoragePaths = StoragePaths(), containerID: String? = nil, logger: Logger) {
        self.system = system
        self.files = files
        self.hotplugTimeout = hotplugTimeout
        self.paths = paths
        self.containerID = containerID
        self.logger = logger
    }
}

/// Well-known guest paths of the storage area; tests point them at temporary directories.
public struct StoragePaths: Sendable, Equatable {
    /// Per-container state (/run/kata-containers): overlay-rw's <cid>/upper and <cid>/work.
    public var kataRun: String
    /// The virtio-fs share's mount point as the runtimes send it (no trailing slash here).
    public var sharedContainers: String
    /// The tmpfs the watchable-bind mirrors live in.
    public var watchable: String
    /// sysfs' hugepages directory (hugepages-<kB>kB/nr_hugepages).
    public var hugepages: String
    /// The agent's own mount table.
    public var mountInfo: String

    public init(kataRun: String = "/run/kata-containers",
                sharedContainers: String = "/run/kata-containers/shared/containers",
                watchable: String = "/run/kata-containers/shared/containers/watchable",
                hugepages: String = "/sys/kernel/mm/hugepages", mountInfo: String = "/proc/self/mountinfo") {
        self.kataRun = kataRun
        self.sharedContainers = sharedContainers
        self.watchable = watchable
        self.hugepages = hugepages
        self.mountInfo = mountInfo
    }
}
