#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import LinuxKit
import OCISpec
#if canImport(Glibc)
import Glibc
#endif

/// A container cgroup on v1 hierarchies (one directory per mounted controller), with an
/// optional unified part for controllers that only the v2 hierarchy has (hybrid layout).
public final class V1CgroupManager: CgroupManager {
    public let path: String
    /// Controller -> mount point (named hierarchies such as name=systemd are left alone).
    public let mounts: [String: String]
    /// The v2 part on a hybrid machine.
    public let unified: V2CgroupManager?
    let fileSystem: CgroupFileSystem

    public init(mounts: [String: String], path: String, unified: V2CgroupManager?, fileSystem: CgroupFileSystem) {
        self.mounts = mounts.filter { !$0.key.hasPrefix("name=") }
        self.path = path
        self.unified = unified
        self.fileSystem = fileSystem
    }

    /// The container's directory in a controller's hierarchy, nil when it is not mounted.
    public func directory(for controller: String) -> String? {
        mounts[controller].map { $0 + path }
    }

    /// One directory per distinct hierarchy (co-mounted controllers share one).
    var directories: [String] {
        Set(mounts.values).sorted().map { $0 + path }
    }

    public func create() throws {
        for directory in directories { try fileSystem.createDirectory(directory) }
        if let cpusetMount = mounts["cpuset"] { try fillCpuset(mount: cpusetMount) }
        try unified?.create()
    }

    /// New v1 cpuset cgroups start with empty cpus/mems and refuse tasks until they are set;
    /// each level copies its parent's.
    func fillCpuset(mount: String) throws {
        var current = mount
        for component in path.split(separator: "/") {
            let parent = current
            current += "/" + component
            for file in ["cpuset.cpus", "cpuset.mems"] {
                let own = try fileSystem.read(current + "/" + file).trimmingWhitespace()
                guard own.isEmpty else { continue }
                let inherited = try fileSystem.read(parent + "/" + file).trimmingWhitespace()
                try fileSystem.write(current + "/" + file, inherited)
            }
        }
    }

    public func refreshCpuset(containerCPUs: String?) throws {
        guard let mount = mounts["cpuset"] else { return }
        let guest = try fileSystem.read(mount + "/cpuset.cpus").trimmingWhitespace()
        let components = path.split(separator: "/")
        var current = mount
        // Parents first: a cpuset must stay within its parent's.
        for (index, component) in components.enumerated() {
            current += "/" + component
            guard fileSystem.exists(current) else { return }
            let own = index == components.count - 1 ? containerCPUs.flatMap { $0.isEmpty ? nil : $0 } : nil
            try fileSystem.write(current + "/cpuset.cpus", own ?? guest)
        }
    }

    public func addProcess(_ pid: Int32) throws {
        for directory in directories { try fileSystem.write(directory + "/cgroup.procs", String(pid)) }
        try unified?.addProcess(pid)
    }

    public func apply(_ resources: LinuxResources) throws {
        var v1Resources = resources
        if unified != nil { v1Resources.unified = nil }
        var leftover: Set<String> = []
        var writes: [CgroupWrite] = []
        for write in try V1ResourcePlan.writes(for: v1Resources) {
            if mounts[write.controller] != nil {
                writes.append(write)
            } else if let unified, unified.controllers.contains(write.controller) {
                leftover.insert(write.controller)
            } else {
                throw CgroupError.unsupported("controller \(write.controller) is not mounted (needed for \(write.file))")
            }
        }
        try perform(writes)
        if let devices = resources.devices, !devices.isEmpty {
            try perform(try V1ResourcePlan.deviceWrites(devices))
        }
        if let unified, !leftover.isEmpty || !(resources.unified ?? [:]).isEmpty {
            try unified.apply(resources, onlyControllers: leftover)
        }
    }

    /// Writes in order; when memory.limit_in_bytes is refused because memsw is still lower,
    /// memsw goes first (the kernel keeps limit <= memsw at every moment).
    func perform(_ writes: [CgroupWrite]) throws {
        var index = 0
        while index < writes.count {
            let write = writes[index]
            guard let directory = directory(for: write.controller) else {
                throw CgroupError.unsupported("controller \(write.controller) is not mounted")
            }
            do {
                try fileSystem.write(directory + "/" + write.file, write.value)
            } catch CgroupError.io(_, _, let code) where code == EINVAL && write.file == "memory.limit_in_bytes" {
                guard index + 1 < writes.count, writes[index + 1].file == "memory.memsw.limit_in_bytes" else {
                    throw CgroupError.io(operation: "write '\(write.value)' to", path: directory + "/" + write.file, errno: code)
                }
                try fileSystem.write(directory + "/memory.memsw.limit_in_bytes", writes[index + 1].value)
                try fileSystem.write(directory + "/" + write.file, write.value)
                index += 1
            }
            index += 1
        }
    }

    public func stats() throws -> CgroupStats {
        var stats = unified.flatMap { try? $0.stats() } ?? CgroupStats()
        func read(_ controller: String, _ file: String) -> String? {
            directory(for: controller).flatMap { try? fileSystem.read($0 + "/" + file) }
        }
        // cpuacct.stat counts USER_HZ (100/s) ticks.
        let ticks = StatParsing.keyValues(read("cpuacct", "cpuacct.stat"))
        stats.cpu.totalUsage = StatParsing.number(read("cpuacct", "cpuacct.usage")) ?? 0
        stats.cpu.perCPUUsage = (read("cpuacct", "cpuacct.usage_percpu") ?? "").split(whereSeparator: { $0 == " " || $0 == "\n" }).compactMap { UInt64($0) }
        stats.cpu.userUsage = StatParsing.scaled(ticks["user"], by: 10_000_000)
        stats.cpu.kernelUsage = StatParsing.scaled(ticks["system"], by: 10_000_000)
        let cpuStat = StatParsing.keyValues(read("cpu", "cpu.stat"))
        stats.cpu.periods = cpuStat["nr_periods"] ?? 0
        stats.cpu.throttledPeriods = cpuStat["nr_throttled"] ?? 0
        stats.cpu.throttledTime = cpuStat["throttled_time"] ?? 0

        func memoryData(_ prefix: String) -> MemoryData {
            var data = MemoryData()
            data.usage = StatParsing.number(read("memory", prefix + "usage_in_bytes")) ?? 0
            data.maxUsage = StatParsing.number(read("memory", prefix + "max_usage_in_bytes")) ?? 0
            data.failcnt = StatParsing.number(read("memory", prefix + "failcnt")) ?? 0
            data.limit = StatParsing.number(read("memory", prefix + "limit_in_bytes")) ?? 0
            return data
        }
        if mounts["memory"] != nil {
            stats.memory.usage = memoryData("memory.")
            stats.memory.swapUsage = memoryData("memory.memsw.")
            stats.memory.kernelUsage = memoryData("memory.kmem.")
            stats.memory.stats = StatParsing.keyValues(read("memory", "memory.stat"))
            stats.memory.cache = stats.memory.stats["total_cache"] ?? stats.memory.stats["cache"] ?? 0
            stats.memory.useHierarchy = StatParsing.number(read("memory", "memory.use_hierarchy")) == 1
        }
        if mounts["pids"] != nil {
            stats.pids.current = StatParsing.number(read("pids", "pids.current")) ?? 0
            let limit = StatParsing.number(read("pids", "pids.max")) ?? 0
            stats.pids.limit = limit == UInt64.max ? 0 : limit
        }
        if mounts["blkio"] != nil {
            // CFQ/BFQ accounting when a proportional scheduler is active, else the throttle layer's.
            let bytes = read("blkio", "blkio.io_service_bytes_recursive") ?? read("blkio", "blkio.bfq.io_service_bytes_recursive")
            let ios = read("blkio", "blkio.io_serviced_recursive") ?? read("blkio", "blkio.bfq.io_serviced_recursive")
            let bytesEntries = StatParsing.v1Blkio(bytes)
            stats.blkio.ioServiceBytesRecursive = bytesEntries.isEmpty
                ? StatParsing.v1Blkio(read("blkio", "blkio.throttle.io_service_bytes_recursive")) : bytesEntries
            let iosEntries = StatParsing.v1Blkio(ios)
            stats.blkio.ioServicedRecursive = iosEntries.isEmpty
                ? StatParsing.v1Blkio(read("blkio", "blkio.throttle.io_serviced_recursive")) : iosEntries
        }
        if mounts["hugetlb"] != nil {
            for size in HugePageSize.available(fileSystem: fileSystem) {
                var entry = HugetlbStats()
                entry.usage = StatParsing.number(read("hugetlb", "hugetlb.\(size).usage_in_bytes")) ?? 0
                entry.maxUsage = StatParsing.number(read("hugetlb", "hugetlb.\(size).max_usage_in_bytes")) ?? 0
                entry.failcnt = StatParsing.number(read("hugetlb", "hugetlb.\(size).failcnt")) ?? 0
                stats.hugetlb[size] = entry
            }
        }
        return stats
    }

    public func freeze(timeout: Duration) throws {
        guard let directory = directory(for: "freezer") else {
            guard let unified else { throw CgroupError.unsupported("no freezer controller") }
            return try unified.freeze(timeout: timeout)
        }
        do {
            try CgroupWait.until(timeout: timeout, what: "freezing \(directory)") {
                // Writing again nudges tasks that were forking while the freeze started.
                try fileSystem.write(directory + "/freezer.state", "FROZEN")
                return try isFrozen()
            }
        } catch {
            try? fileSystem.write(directory + "/freezer.state", "THAWED")
            throw error
        }
    }

    public func thaw() throws {
        guard let directory = directory(for: "freezer") else {
            guard let unified else { throw CgroupError.unsupported("no freezer controller") }
            return try unified.thaw()
        }
        try fileSystem.write(directory + "/freezer.state", "THAWED")
    }

    public func isFrozen() throws -> Bool {
        guard let directory = directory(for: "freezer") else {
            guard let unified else { throw CgroupError.unsupported("no freezer controller") }
            return try unified.isFrozen()
        }
        return try fileSystem.read(directory + "/freezer.state").trimmingWhitespace() == "FROZEN"
    }

    public func processes() throws -> [Int32] {
        let anyDirectory = directory(for: "pids") ?? directory(for: "memory") ?? directories.first
        guard let anyDirectory else { return try unified?.processes() ?? [] }
        return Array(Set(try CgroupWait.pids(in: anyDirectory, fileSystem: fileSystem))).sorted()
    }

    public func oomEvents() throws -> AsyncStream<OOMEvent> {
        guard let directory = directory(for: "memory") else {
            guard let unified else { throw CgroupError.unsupported("no memory controller for OOM events") }
            return try unified.oomEvents()
        }
        return try OOMWatcher.v1(directory: directory, path: path, fileSystem: fileSystem)
    }

    public func destroy(timeout: Duration) throws {
        if CgroupWait.removeIfUnused(directories, fileSystem: fileSystem) {
            try unified?.destroy(timeout: timeout)
            return
        }
        // Frozen tasks cannot act on SIGKILL, so the tree is thawed first.
        if directory(for: "freezer").map(fileSystem.exists) == true { try? thaw() }
        try CgroupWait.until(timeout: timeout, what: "emptying cgroup \(path)") {
            var pids: Set<Int32> = []
            for directory in directories { pids.formUnion(try CgroupWait.pids(in: directory, fileSystem: fileSystem)) }
            for pid in pids { kill(pid, SIGKILL) }
            return pids.isEmpty
        }
        for directory in directories { try CgroupWait.removeTree(directory, fileSystem: fileSystem) }
        try unified?.destroy(timeout: timeout)
    }
}
