import OCISpec

/// Maps OCI `LinuxResources` to cgroup v1 control-file writes (as runc's fs driver does).
public enum V1ResourcePlan {
    /// The writes for `resources`, devices excluded (see `deviceWrites`).
    public static func writes(for resources: LinuxResources) throws -> [CgroupWrite] {
        var out: [CgroupWrite] = []
        if let memory = resources.memory { out += try memoryWrites(memory) }
        if let cpu = resources.cpu { out += cpuWrites(cpu) }
        if let pids = resources.pids {
            out.append(CgroupWrite("pids", "pids.max", pids.limit > 0 ? String(pids.limit) : "max"))
        }
        if let blockIO = resources.blockIO { out += blockIOWrites(blockIO) }
        for limit in resources.hugepageLimits ?? [] {
            let size = try HugePageSize.normalize(limit.pageSize)
            out.append(CgroupWrite("hugetlb", "hugetlb.\(size).limit_in_bytes", String(limit.limit)))
        }
        if let network = resources.network {
            if let classID = network.classID { out.append(CgroupWrite("net_cls", "net_cls.classid", String(classID))) }
            for priority in network.priorities ?? [] {
                out.append(CgroupWrite("net_prio", "net_prio.ifpriomap", "\(priority.name) \(priority.priority)"))
            }
        }
        if let unified = resources.unified, !unified.isEmpty {
            throw CgroupError.unsupported("resources.unified needs cgroup v2 (keys: \(unified.keys.sorted().joined(separator: ", ")))")
        }
        return out
    }

    static func memoryWrites(_ memory: LinuxMemory) throws -> [CgroupWrite] {
        var out: [CgroupWrite] = []
        // memsw must stay >= limit at every step, so raise memsw first and lower it last;
        // the manager retries in the other order when the kernel still refuses (EINVAL).
        let limit = memory.limit.map(v1Bytes)
        let swap = memory.swap.map(v1Bytes)
        if let swap, memory.limit == -1 || memory.swap == -1 {
            out.append(CgroupWrite("memory", "memory.memsw.limit_in_bytes", swap))
            if let limit { out.append(CgroupWrite("memory", "memory.limit_in_bytes", limit)) }
        } else {
            if let limit { out.append(CgroupWrite("memory", "memory.limit_in_bytes", limit)) }
            if let swap { out.append(CgroupWrite("memory", "memory.memsw.limit_in_bytes", swap)) }
        }
        if let reservation = memory.reservation {
            out.append(CgroupWrite("memory", "memory.soft_limit_in_bytes", v1Bytes(reservation)))
        }
        if let kernelTCP = memory.kernelTCP {
            out.append(CgroupWrite("memory", "memory.kmem.tcp.limit_in_bytes", v1Bytes(kernelTCP)))
        }
        if let swappiness = memory.swappiness {
            guard swappiness <= 100 else {
                throw CgroupError.invalidResource("memory.swappiness \(swappiness) is above 100")
            }
            out.append(CgroupWrite("memory", "memory.swappiness", String(swappiness)))
        }
        if memory.disableOOMKiller == true {
            out.append(CgroupWrite("memory", "memory.oom_control", "1"))
        }
        return out
    }

    /// v1 spells "unlimited" as -1.
    static func v1Bytes(_ value: Int64) -> String { value < 0 ? "-1" : String(value) }

    static func cpuWrites(_ cpu: LinuxCPU) -> [CgroupWrite] {
        var out: [CgroupWrite] = []
        if let shares = cpu.shares, shares != 0 { out.append(CgroupWrite("cpu", "cpu.shares", String(shares))) }
        // The kernel checks quota against the current period, so the period goes first.
        if let period = cpu.period, period != 0 { out.append(CgroupWrite("cpu", "cpu.cfs_period_us", String(period))) }
        if let quota = cpu.quota, quota != 0 { out.append(CgroupWrite("cpu", "cpu.cfs_quota_us", quota < 0 ? "-1" : String(quota))) }
        if let burst = cpu.burst { out.append(CgroupWrite("cpu", "cpu.cfs_burst_us", String(burst))) }
        if let period = cpu.realtimePeriod, period != 0 { out.append(CgroupWrite("cpu", "cpu.rt_period_us", String(period))) }
        if let runtime = cpu.realtimeRuntime, runtime != 0 { out.append(CgroupWrite("cpu", "cpu.rt_runtime_us", String(runtime))) }
        if let idle = cpu.idle { out.append(CgroupWrite("cpu", "cpu.idle", String(idle))) }
        if let cpus = cpu.cpus, !cpus.isEmpty { out.append(CgroupWrite("cpuset", "cpuset.cpus", cpus)) }
        if let mems = cpu.mems, !mems.isEmpty { out.append(CgroupWrite("cpuset", "cpuset.mems", mems)) }
        return out
    }

    static func blockIOWrites(_ io: LinuxBlockIO) -> [CgroupWrite] {
        var out: [CgroupWrite] = []
        if let weight = io.weight, weight != 0 { out.append(CgroupWrite("blkio", "blkio.weight", String(weight))) }
        if let leaf = io.leafWeight, leaf != 0 { out.append(CgroupWrite("blkio", "blkio.leaf_weight", String(leaf))) }
        for device in io.weightDevice ?? [] {
            if let weight = device.weight {
                out.append(CgroupWrite("blkio", "blkio.weight_device", "\(device.major):\(device.minor) \(weight)"))
            }
            if let leaf = device.leafWeight {
                out.append(CgroupWrite("blkio", "blkio.leaf_weight_device", "\(device.major):\(device.minor) \(leaf)"))
            }
        }
        let throttles: [(String, [LinuxThrottleDevice]?)] = [
            ("blkio.throttle.read_bps_device", io.throttleReadBpsDevice),
            ("blkio.throttle.write_bps_device", io.throttleWriteBpsDevice),
            ("blkio.throttle.read_iops_device", io.throttleReadIOPSDevice),
            ("blkio.throttle.write_iops_device", io.throttleWriteIOPSDevice),
        ]
        for (file, devices) in throttles {
            for device in devices ?? [] {
                out.append(CgroupWrite("blkio", file, "\(device.major):\(device.minor) \(device.rate)"))
            }
        }
        return out
    }

    /// devices.allow / devices.deny lines for the rules, in order ("a" for a full wildcard).
    public static func deviceWrites(_ rules: [LinuxDeviceCgroup]) throws -> [CgroupWrite] {
        try rules.map { rule in
            let parsed = try DeviceRule(rule)
            return CgroupWrite("devices", rule.allow ? "devices.allow" : "devices.deny", parsed.v1Line)
        }
    }
}
