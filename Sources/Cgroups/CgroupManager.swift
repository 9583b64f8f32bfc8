import OCISpec
#if canImport(Glibc)
import Glibc
#endif

/// An OOM kill (v2) or OOM condition (v1) seen in a container's memory cgroup.
public struct OOMEvent: Sendable, Equatable {
    /// The container's cgroups path (the same for every hierarchy).
    public let path: String
}

/// One container's cgroup across whichever hierarchies the machine has.
public protocol CgroupManager: Sendable {
    /// The cgroups path inside each hierarchy, starting with "/".
    var path: String { get }
    /// Creates the directories (and, on v1, fills cpuset.cpus/mems so tasks may join).
    func create() throws
    /// Moves a process (all its threads) into the cgroup.
    func addProcess(_ pid: Int32) throws
    /// Writes the resource limits; also used by UpdateContainer.
    func apply(_ resources: LinuxResources) throws
    /// Current usage.
    func stats() throws -> CgroupStats
    /// After CPUs were hot-added: v1 cpusets never grow by themselves, so every level of the
    /// path gets the CPUs the root has now, and the container's own level `containerCPUs` when
    /// its spec set some. v2 does nothing: an empty cpuset.cpus follows its parent's.
    func refreshCpuset(containerCPUs: String?) throws
    /// Freezes every task and returns once the kernel reports the cgroup frozen.
    func freeze(timeout: Duration) throws
    /// Thaws the cgroup.
    func thaw() throws
    /// Whether the cgroup is frozen now.
    func isFrozen() throws -> Bool
    /// Pids of the processes in the cgroup (and its descendants).
    func processes() throws -> [Int32]
    /// A stream that yields once per OOM event and finishes when the cgroup is removed.
    func oomEvents() throws -> AsyncStream<OOMEvent>
    /// Kills what is left inside, waits until it is empty, removes the directory tree.
    func destroy(timeout: Duration) throws
}

/// Builds the right manager for a machine's layout.
public enum CgroupManagers {
    /// The manager for a container: detects this machine's layout and resolves
    /// `linux.cgroupsPath` (empty -> "/<id>"; relative -> under `parent`). Creates nothing yet.
    public static func forContainer(id: String, cgroupsPath: String?, parent: String = "/",
                                    fileSystem: CgroupFileSystem = LocalCgroupFileSystem()) throws -> CgroupManager {
        let layout = try CgroupLayout.detect(fileSystem: fileSystem)
        let path = try CgroupPath.resolve(cgroupsPath: cgroupsPath ?? "", containerID: id, parent: parent)
        return make(layout: layout, path: path, fileSystem: fileSystem)
    }

    /// v1 -> `V1CgroupManager`; v2 -> `V2CgroupManager`; hybrid -> v1 for the controllers
    /// mounted on v1 plus a v2 part for those that exist only on the unified hierarchy.
    public static func make(layout: CgroupLayout, path: String,
                            fileSystem: CgroupFileSystem = LocalCgroupFileSystem()) -> CgroupManager {
        switch layout.mode {
        case .v2:
            return V2CgroupManager(mount: layout.unifiedMount ?? "/sys/fs/cgroup", path: path,
                                   controllers: layout.unifiedControllers, ownsDevices: true, fileSystem: fileSystem)
        case .v1:
            return V1CgroupManager(mounts: layout.v1Mounts, path: path, unified: nil, fileSystem: fileSystem)
        case .hybrid:
            let unifiedOnly = layout.unifiedControllers.subtracting(layout.v1Controllers)
            let unified = layout.unifiedMount.map {
                V2CgroupManager(mount: $0, path: path, controllers: unifiedOnly, ownsDevices: false, fileSystem: fileSystem)
            }
            return V1CgroupManager(mounts: layout.v1Mounts, path: path, unified: unified, fileSystem: fileSystem)
        }
    }
}

/// Polling helpers: v1 freezer and cgroup emptiness have no notification, so they are polled
/// against a deadline (as runc does).
enum CgroupWait {
    static func until(timeout: Duration, what: String, _ condition: () throws -> Bool) throws {
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: timeout)
        var pause: UInt32 = 1_000
        while true {
            if try condition() { return }
            guard clock.now < deadline else { throw CgroupError.timeout(what) }
            usleep(pause)
            pause = min(pause * 2, 50_000)
        }
    }

    /// The usual end of a container: its processes are gone and it made no sub-cgroups, so
    /// one rmdir per directory removes it. True when all are gone; false at the first one
    /// still in use (EBUSY: processes or children), which the caller then empties and removes
    /// the long way (an rmdir never disturbs a cgroup in use).
    static func removeIfUnused(_ directories: [String], fileSystem: CgroupFileSystem) -> Bool {
        for directory in directories {
            do {
                try fileSystem.removeDirectory(directory)
            } catch CgroupError.io(_, _, let code) where code == ENOENT {
                continue
            } catch {
                return false
            }
        }
        return true
    }

    /// Removes `directory` and every cgroup below it, deepest first (a cgroup with children
    /// cannot be removed). A directory that is already gone counts as removed.
    static func removeTree(_ directory: String, fileSystem: CgroupFileSystem) throws {
        guard fileSystem.exists(directory) else { return }
        for child in try fileSystem.subdirectories(directory) {
            try removeTree(directory + "/" + child, fileSystem: fileSystem)
        }
        do {
            try fileSystem.removeDirectory(directory)
        } catch CgroupError.io(_, _, let code) where code == ENOENT {
            return
        }
    }

    /// Pids listed in cgroup.procs of `directory` and its descendants.
    static func pids(in directory: String, fileSystem: CgroupFileSystem) throws -> [Int32] {
        guard fileSystem.exists(directory) else { return [] }
        var out = try fileSystem.read(directory + "/cgroup.procs").split(separator: "\n").compactMap { Int32($0) }
        for child in try fileSystem.subdirectories(directory) {
            out += try pids(in: directory + "/" + child, fileSystem: fileSystem)
        }
        return out
    }
}
