import OCISpec

/// Maps OCI `LinuxResources` to cgroup v2 control-file writes (as runc's fs2 driver does).
/// Devices are not files on v2: see `DeviceFilterProgram`.
public enum V2ResourcePlan {
    /// The writes for `resources`. `bfqWeight` says whether io.bfq.weight exists (it takes the
    /// OCI weight unconverted; io.weight needs the 10..1000 -> 1..10000 conversion).
    public static func writes(for resources: LinuxResources, bfqWeight: Bool = false) throws -> [CgroupWrite] {
        var out: [CgroupWrite] = []
        if let memory = resources.memory { out += try memoryWrites(memory) }
        if let cpu = resources.cpu { out += cpuWrites(cpu) }
        if let pids = resources.pids {
            out.append(CgroupWrite("pids", "pids.max", pids.limit > 0 ? String(pids.limit) : "max"))
        }
        if let blockIO = resources.blockIO { out += ioWrites(blockIO, bfqWeight: bfqWeight) }
        for limit in resources.hugepageLimits ?? [] {
            let size = try HugePageSize.normalize(limit.pageSize)
            out.append(CgroupWrite("hugetlb", "hugetlb.\(size).max", String(limit.limit)))
        }
        if let network = resources.network, network.classID != nil || !(network.priorities ?? []).isEmpty {
            throw CgroupError.unsupported("resources.network (net_cls/net_prio) does not exist on cgroup v2")
        }
        for (key, value) in (resources.unified ?? [:]).sorted(by: { $0.key < $1.key }) {
            guard !key.isEmpty, !key.contains("/"), key != ".", key != "..", let dot = key.firstIndex(of: ".") else {
                throw CgroupError.invalidResource("resources.unified key '\(key)' is not a cgroup file name")
            }
            let prefix = String(key[..<dot])
            out.append(CgroupWrite(prefix == "cgroup" ? "" : prefix, key, value))
        }
        return out
    }

    static func memoryWrites(_ memory: LinuxMemory) throws -> [CgroupWrite] {
        var out: [CgroupWrite] = []
        if let swap = memory.swap, let value = try swapValue(swap: swap, limit: memory.limit ?? 0) {
            out.append(CgroupWrite("memory", "memory.swap.max", value))
        }
        if let limit = memory.limit, limit != 0 {
            out.append(CgroupWrite("memory", "memory.max", limit < 0 ? "max" : String(limit)))
        }
        if let reservation = memory.reservation, reservation != 0 {
            out.append(CgroupWrite("memory", "memory.low", reservation < 0 ? "max" : String(reservation)))
        }
        return out
    }

    /// OCI swap is memory+swap; v2's memory.swap.max is swap alone. nil: nothing to write.
    static func swapValue(swap: Int64, limit: Int64) throws -> String? {
        if swap == -1 { return "max" }
        if swap == 0 { return nil }
        guard limit > 0 else {
            throw CgroupError.invalidResource("memory.swap \(swap) needs a memory.limit")
        }
        guard swap >= limit else {
            throw CgroupError.invalidResource("memory.swap \(swap) (memory+swap) is below memory.limit \(limit)")
        }
        return String(swap - limit)
    }

    /// cpu.shares (2..262144) to cpu.weight (1..10000), runc's formula.
    public static func weight(fromShares shares: UInt64) -> UInt64 {
        let clamped = min(max(shares, 2), 262_144)
        return 1 + ((clamped - 2) * 9999) / 262_142
    }

    static func cpuWrites(_ cpu: LinuxCPU) -> [CgroupWrite] {
        var out: [CgroupWrite] = []
        if let shares = cpu.shares, shares != 0 {
            out.append(CgroupWrite("cpu", "cpu.weight", String(weight(fromShares: shares))))
        }
        let quota = cpu.quota ?? 0
        let period = cpu.period ?? 0
        if quota != 0 || period != 0 {
            let quotaText = quota > 0 ? String(quota) : "max"
            out.append(CgroupWrite("cpu", "cpu.max", "\(quotaText) \(period != 0 ? period : 100_000)"))
        }
        if let burst = cpu.burst { out.append(CgroupWrite("cpu", "cpu.max.burst", String(burst))) }
        if let idle = cpu.idle { out.append(CgroupWrite("cpu", "cpu.idle", String(idle))) }
        if let cpus = cpu.cpus, !cpus.isEmpty { out.append(CgroupWrite("cpuset", "cpuset.cpus", cpus)) }
        if let mems = cpu.mems, !mems.isEmpty { out.append(CgroupWrite("cpuset", "cpuset.mems", mems)) }
        return out
    }

    /// blkio.weight (10..1000) to io.weight (1..10000), runc's formula.
    public static func ioWeight(fromBlkioWeight weight: UInt16) -> UInt64 {
        let clamped = UInt64(min(max(weight, 10), 1000))
        return 1 + (clamped - 10) * 9999 / 990
    }

    static func ioWrites(_ io: LinuxBlockIO, bfqWeight: Bool) -> [CgroupWrite] {
        var out: [CgroupWrite] = []
        let weightFile = bfqWeight ? "io.bfq.weight" : "io.weight"
        func convert(_ weight: UInt16) -> String {
            bfqWeight ? String(weight) : String(ioWeight(fromBlkioWeight: weight))
        }
        if let weight = io.weight, weight != 0 { out.append(CgroupWrite("io", weightFile, convert(weight))) }
        for device in io.weightDevice ?? [] {
            if let weight = device.weight {
                out.append(CgroupWrite("io", weightFile, "\(device.major):\(device.minor) \(convert(weight))"))
            }
        }
        let throttles: [(String, [LinuxThrottleDevice]?)] = [
            ("rbps", io.throttleReadBpsDevice), ("wbps", io.throttleWriteBpsDevice),
            ("riops", io.throttleReadIOPSDevice), ("wiops", io.throttleWriteIOPSDevice),
        ]
        for (key, devices) in throttles {
            for device in devices ?? [] {
                let rate = device.rate == 0 ? "max" : String(device.rate)
                out.append(CgroupWrite("io", "io.max", "\(device.major):\(device.minor) \(key)=\(rate)"))
            }
        }
        return out
    }
}
