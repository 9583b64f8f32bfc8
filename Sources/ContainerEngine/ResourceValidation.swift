import Cgroups
import LinuxKit
import OCISpec

/// Checks resource values against what the kernel accepts before any cgroup file is written,
/// so a value the kernel would refuse (or one whose arithmetic would overflow) answers with the
/// field at fault instead of a half-applied update and a bare errno.
enum ResourceValidation {
    /// CFS bandwidth limits (kernel/sched/core.c): the period is 1 ms to 1 s, a quota at least
    /// 1 ms and at most max_cfs_runtime ((2^44 - 1) ns expressed in µs).
    static let cfsPeriodRange: ClosedRange<UInt64> = 1000...1_000_000
    static let cfsQuotaRange: ClosedRange<Int64> = 1000...17_592_186_044
    /// CONFIG_NR_CPUS and MAX_NUMNODES never exceed these; larger ids are typos or attacks.
    static let maxCPUID: UInt32 = 8191
    static let maxMemoryNodeID: UInt32 = 1023
    /// Kernel dev_t: 12-bit major, 20-bit minor.
    static let maxDeviceMajor: Int64 = (1 << 12) - 1
    static let maxDeviceMinor: Int64 = (1 << 20) - 1

    static func validate(_ resources: LinuxResources, field: String = "linux.resources") throws(ResourceError) {
        if let cpu = resources.cpu { try validate(cpu, field: field + ".cpu") }
        if let memory = resources.memory {
            for (name, value) in [
                ("limit", memory.limit), ("reservation", memory.reservation), ("swap", memory.swap),
                ("kernel", memory.kernel), ("kernelTCP", memory.kernelTCP),
            ] {
                if let value, value < -1 {
                    throw ResourceError(field: "\(field).memory.\(name)", reason: "\(value) is negative (only -1, unlimited, is)")
                }
            }
            if let swappiness = memory.swappiness, swappiness > 100 {
                throw ResourceError(field: "\(field).memory.swappiness", reason: "\(swappiness) is above 100")
            }
        }
        for (index, limit) in (resources.hugepageLimits ?? []).enumerated() {
            do {
                _ = try HugePageSize.normalize(limit.pageSize)
            } catch {
                throw ResourceError(field: "\(field).hugepageLimits[\(index)].pageSize", reason: "'\(limit.pageSize)' is not a page size like 2MB or 1GB")
            }
        }
        for (index, rule) in (resources.devices ?? []).enumerated() {
            try checkDeviceNumbers(major: rule.major, minor: rule.minor, wildcardAllowed: true, field: "\(field).devices[\(index)]")
        }
        if let blockIO = resources.blockIO {
            let throttles: [(String, [LinuxThrottleDevice]?)] = [
                ("throttleReadBpsDevice", blockIO.throttleReadBpsDevice), ("throttleWriteBpsDevice", blockIO.throttleWriteBpsDevice),
                ("throttleReadIOPSDevice", blockIO.throttleReadIOPSDevice), ("throttleWriteIOPSDevice", blockIO.throttleWriteIOPSDevice),
            ]
            for (name, devices) in throttles {
                for (index, device) in (devices ?? []).enumerated() {
                    try checkDeviceNumbers(major: device.major, minor: device.minor, wildcardAllowed: false, field: "\(field).blockIO.\(name)[\(index)]")
                }
            }
            for (index, device) in (blockIO.weightDevice ?? []).enumerated() {
                try checkDeviceNumbers(major: device.major, minor: device.minor, wildcardAllowed: false, field: "\(field).blockIO.weightDevice[\(index)]")
            }
        }
    }

    static func validate(_ cpu: LinuxCPU, field: String) throws(ResourceError) {
        if let period = cpu.period, period != 0, !cfsPeriodRange.contains(period) {
            throw ResourceError(field: field + ".period", reason: "\(period) is outside \(cfsPeriodRange.lowerBound)...\(cfsPeriodRange.upperBound) µs")
        }
        // 0 leaves the quota unset and -1 is unlimited (as runc).
        if let quota = cpu.quota, quota != 0, quota != -1, !cfsQuotaRange.contains(quota) {
            throw ResourceError(field: field + ".quota", reason: "\(quota) is outside \(cfsQuotaRange.lowerBound)...\(cfsQuotaRange.upperBound) µs (or -1)")
        }
        if let runtime = cpu.realtimeRuntime, runtime < -1 {
            throw ResourceError(field: field + ".realtimeRuntime", reason: "\(runtime) is negative")
        }
        if let cpus = cpu.cpus, !cpus.isEmpty {
            try checkList(cpus, max: maxCPUID, field: field + ".cpus")
        }
        if let mems = cpu.mems, !mems.isEmpty {
            try checkList(mems, max: maxMemoryNodeID, field: field + ".mems")
        }
    }

    /// A cpuset list ("0-3,8,10-11"): every id a number no larger than `max`, every range ascending.
    static func checkList(_ list: String, max: UInt32, field: String) throws(ResourceError) {
        for item in list.split(separator: ",", omittingEmptySubsequences: false) {
            let bounds = item.split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false)
            var ids: [UInt32] = []
            for bound in bounds {
                let text = bound.trimmingWhitespace()
                guard !text.isEmpty, text.allSatisfy({ $0.isASCII && $0.isNumber }), let id = UInt32(text), id <= max else {
                    throw ResourceError(field: field, reason: "'\(list)': '\(item)' is not an id or range of ids in 0...\(max)")
                }
                ids.append(id)
            }
            if ids.count == 2, ids[0] > ids[1] {
                throw ResourceError(field: field, reason: "'\(list)': range '\(item)' is descending")
            }
        }
    }

    /// Device numbers as the kernel's dev_t holds them; -1 (protobuf) or nil mean "any" in rules.
    static func checkDeviceNumbers(major: Int64?, minor: Int64?, wildcardAllowed: Bool, field: String) throws(ResourceError) {
        for (name, value, limit) in [("major", major, maxDeviceMajor), ("minor", minor, maxDeviceMinor)] {
            guard let value else { continue }
            if value == -1 && wildcardAllowed { continue }
            guard (0...limit).contains(value) else {
                throw ResourceError(field: "\(field).\(name)", reason: "\(value) is outside 0...\(limit)")
            }
        }
    }
}

/// A resource value the kernel would refuse, named by its spec field.
struct ResourceError: Error, CustomStringConvertible {
    let field: String
    let reason: String

    var description: String { "\(field): \(reason)" }
}
