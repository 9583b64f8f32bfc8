#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import OCISpec
#if canImport(Glibc)
import Glibc
#endif

/// A container cgroup on the unified (v2) hierarchy.
public final class V2CgroupManager: CgroupManager {
    public let path: String
    public let mount: String
    /// Controllers this manager may enable and write (all of them on pure v2; on a hybrid
    /// machine only those missing from v1).
    public let controllers: Set<String>
    /// Whether device rules are enforced here (a BPF program); false when v1 has "devices".
    public let ownsDevices: Bool
    let fileSystem: CgroupFileSystem

    public init(mount: String, path: String, controllers: Set<String>, ownsDevices: Bool, fileSystem: CgroupFileSystem) {
        self.mount = mount
        self.path = path
        self.controllers = controllers
        self.ownsDevices = ownsDevices
        self.fileSystem = fileSystem
    }

    /// The container's directory.
    public var directory: String { mount + path }

    public func create() throws {
        try fileSystem.createDirectory(directory)
        // Each ancestor must delegate the controllers to its children ("+ctrl" in
        // cgroup.subtree_control), from the root down to the container's parent.
        var current = mount
        for component in path.split(separator: "/") {
            let available = Set((try? fileSystem.read(current + "/cgroup.controllers"))?
                .split(whereSeparator: { $0 == " " || $0 == "\n" }).map(String.init) ?? [])
            let enabled = Set((try? fileSystem.read(current + "/cgroup.subtree_control"))?
                .split(whereSeparator: { $0 == " " || $0 == "\n" }).map(String.init) ?? [])
            for controller in controllers.intersection(available).subtracting(enabled).sorted() {
                try fileSystem.write(current + "/cgroup.subtree_control", "+" + controller)
            }
            current += "/" + component
        }
    }

    public func addProcess(_ pid: Int32) throws {
        try fileSystem.write(directory + "/cgroup.procs", String(pid))
    }

    public func apply(_ resources: LinuxResources) throws {
        try apply(resources, onlyControllers: nil)
    }

    /// Applies the writes of `onlyControllers` (all when nil) plus resources.unified.
    func apply(_ resources: LinuxResources, onlyControllers: Set<String>?) throws {
        let bfq = fileSystem.exists(directory + "/io.bfq.weight")
        var plain = resources
        plain.unified = nil
        for write in try V2ResourcePlan.writes(for: plain, bfqWeight: bfq) {
            if let onlyControllers, !onlyControllers.contains(write.controller) { continue }
            guard write.controller.isEmpty || controllers.contains(write.controller) else {
                throw CgroupError.unsupported("controller \(write.controller) is not available on \(mount) (needed for \(write.file))")
            }
            try fileSystem.write(directory + "/" + write.file, write.value)
        }
        var unifiedOnly = LinuxResources()
        unifiedOnly.unified = resources.unified
        for write in try V2ResourcePlan.writes(for: unifiedOnly) {
            try fileSystem.write(directory + "/" + write.file, write.value)
        }
        if ownsDevices, onlyControllers == nil, let devices = resources.devices, !devices.isEmpty {
            try DeviceFilterLoader.attach(try DeviceFilterProgram(rules: devices), to: directory)
        }
    }

    public func stats() throws -> CgroupStats {
        var stats = CgroupStats()
        func read(_ file: String) -> String? { try? fileSystem.read(directory + "/" + file) }
        let cpu = StatParsing.keyValues(read("cpu.stat"))
        stats.cpu.totalUsage = StatParsing.scaled(cpu["usage_usec"], by: 1000)
        stats.cpu.userUsage = StatParsing.scaled(cpu["user_usec"], by: 1000)
        stats.cpu.kernelUsage = StatParsing.scaled(cpu["system_usec"], by: 1000)
        stats.cpu.periods = cpu["nr_periods"] ?? 0
        stats.cpu.throttledPeriods = cpu["nr_throttled"] ?? 0
        stats.cpu.throttledTime = StatParsing.scaled(cpu["throttled_usec"], by: 1000)
        if controllers.contains("memory") {
            let events = StatParsing.keyValues(read("memory.events"))
            stats.memory.usage.usage = StatParsing.number(read("memory.current")) ?? 0
            stats.memory.usage.maxUsage = StatParsing.number(read("memory.peak")) ?? 0
            stats.memory.usage.failcnt = events["max"] ?? 0
            stats.memory.usage.limit = StatParsing.number(read("memory.max")) ?? 0
            stats.memory.swapUsage.usage = StatParsing.number(read("memory.swap.current")) ?? 0
            stats.memory.swapUsage.maxUsage = StatParsing.number(read("memory.swap.peak")) ?? 0
            stats.memory.swapUsage.limit = StatParsing.number(read("memory.swap.max")) ?? 0
            stats.memory.stats = StatParsing.keyValues(read("memory.stat"))
            stats.memory.cache = stats.memory.stats["file"] ?? 0
            stats.memory.kernelUsage.usage = stats.memory.stats["kernel"] ?? 0
            stats.memory.useHierarchy = true
        }
        if controllers.contains("pids") {
            stats.pids.current = StatParsing.number(read("pids.current")) ?? 0
            let limit = StatParsing.number(read("pids.max")) ?? 0
            stats.pids.limit = limit == UInt64.max ? 0 : limit
        }
        if controllers.contains("io") {
            let io = StatParsing.v2IOStat(read("io.stat"))
            stats.blkio.ioServiceBytesRecursive = io.bytes
            stats.blkio.ioServicedRecursive = io.ios
        }
        if controllers.contains("hugetlb") {
            for size in HugePageSize.available(fileSystem: fileSystem) {
                var entry = HugetlbStats()
                entry.usage = StatParsing.number(read("hugetlb.\(size).current")) ?? 0
                entry.maxUsage = StatParsing.number(read("hugetlb.\(size).max")) ?? 0
                entry.failcnt = StatParsing.keyValues(read("hugetlb.\(size).events"))["max"] ?? 0
                stats.hugetlb[size] = entry
            }
        }
        return stats
    }

    public func refreshCpuset(containerCPUs: String?) throws {}

    public func freeze(timeout: Duration) throws {
        try fileSystem.write(directory + "/cgroup.freeze", "1")
        do {
            try CgroupWait.until(timeout: timeout, what: "freezing \(directory)") { try isFrozen() }
        } catch {
            try? fileSystem.write(directory + "/cgroup.freeze", "0")
            throw error
        }
    }

    public func thaw() throws {
        try fileSystem.write(directory + "/cgroup.freeze", "0")
    }

    public func isFrozen() throws -> Bool {
        StatParsing.keyValues(try fileSystem.read(directory + "/cgroup.events"))["frozen"] == 1
    }

    public func processes() throws -> [Int32] {
        Array(Set(try CgroupWait.pids(in: directory, fileSystem: fileSystem))).sorted()
    }

    public func oomEvents() throws -> AsyncStream<OOMEvent> {
        guard controllers.contains("memory") else {
            throw CgroupError.unsupported("memory controller not enabled on \(mount) for OOM events")
        }
        return try OOMWatcher.v2(directory: directory, path: path, fileSystem: fileSystem)
    }

    public func destroy(timeout: Duration) throws {
        guard fileSystem.exists(directory) else { return }
        if CgroupWait.removeIfUnused([directory], fileSystem: fileSystem) { return }
        if fileSystem.exists(directory + "/cgroup.freeze") { try? thaw() }
        let canKillAll = fileSystem.exists(directory + "/cgroup.kill")
        try CgroupWait.until(timeout: timeout, what: "emptying cgroup \(directory)") {
            let pids = try CgroupWait.pids(in: directory, fileSystem: fileSystem)
            if pids.isEmpty { return true }
            if canKillAll {
                try fileSystem.write(directory + "/cgroup.kill", "1")
            } else {
                for pid in pids { kill(pid, SIGKILL) }
            }
            return false
        }
        try CgroupWait.removeTree(directory, fileSystem: fileSystem)
    }
}
