#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import LinuxKit

/// Resource usage of one cgroup, shaped like the agent API's CgroupStats.
public struct CgroupStats: Sendable, Equatable {
    public var cpu = CPUStats()
    public var memory = MemoryStats()
    public var pids = PidsStats()
    public var blkio = BlkioStats()
    /// Page size ("2MB") -> usage.
    public var hugetlb: [String: HugetlbStats] = [:]
    public init() {}
}

/// CPU time in nanoseconds and CFS throttling counters.
public struct CPUStats: Sendable, Equatable {
    public var totalUsage: UInt64 = 0
    public var perCPUUsage: [UInt64] = []
    public var kernelUsage: UInt64 = 0
    public var userUsage: UInt64 = 0
    public var periods: UInt64 = 0
    public var throttledPeriods: UInt64 = 0
    public var throttledTime: UInt64 = 0
    public init() {}
}

/// Usage, peak, failure count and limit of one memory counter, in bytes.
public struct MemoryData: Sendable, Equatable {
    public var usage: UInt64 = 0
    public var maxUsage: UInt64 = 0
    public var failcnt: UInt64 = 0
    public var limit: UInt64 = 0
    public init() {}
}

/// Memory statistics; `stats` is memory.stat as key -> value.
public struct MemoryStats: Sendable, Equatable {
    public var cache: UInt64 = 0
    public var usage = MemoryData()
    public var swapUsage = MemoryData()
    public var kernelUsage = MemoryData()
    public var useHierarchy = false
    public var stats: [String: UInt64] = [:]
    public init() {}
}

/// Task count and limit (limit 0 = unlimited).
public struct PidsStats: Sendable, Equatable {
    public var current: UInt64 = 0
    public var limit: UInt64 = 0
    public init() {}
}

/// One per-device block I/O counter ("Read", "Write", "Sync", "Async", "Total", ...).
public struct BlkioEntry: Sendable, Equatable {
    public var major: UInt64
    public var minor: UInt64
    public var op: String
    public var value: UInt64
    public init(major: UInt64, minor: UInt64, op: String, value: UInt64) {
        self.major = major
        self.minor = minor
        self.op = op
        self.value = value
    }
}

/// Block I/O counters per device.
public struct BlkioStats: Sendable, Equatable {
    public var ioServiceBytesRecursive: [BlkioEntry] = []
    public var ioServicedRecursive: [BlkioEntry] = []
    public init() {}
}

/// Huge page usage for one page size.
public struct HugetlbStats: Sendable, Equatable {
    public var usage: UInt64 = 0
    public var maxUsage: UInt64 = 0
    public var failcnt: UInt64 = 0
    public init() {}
}

/// Parsers for the control-file formats the stats come from.
enum StatParsing {
    /// A number, "max" (-> UInt64.max) or v1's huge "unlimited" values; nil when absent.
    static func number(_ text: String?) -> UInt64? {
        guard let text else { return nil }
        let trimmed = text.trimmingWhitespace()
        if trimmed == "max" { return UInt64.max }
        if let value = UInt64(trimmed) { return value }
        if let value = Int64(trimmed), value < 0 { return UInt64.max }
        return nil
    }

    /// `value` (0 when absent) in a finer unit, `factor` of them per unit, saturating at
    /// UInt64.max: microseconds or USER_HZ ticks read from a file become nanoseconds.
    static func scaled(_ value: UInt64?, by factor: UInt64) -> UInt64 {
        let (product, overflow) = (value ?? 0).multipliedReportingOverflow(by: factor)
        return overflow ? UInt64.max : product
    }

    /// "key value" lines (memory.stat, cpu.stat, memory.events) as a dictionary.
    static func keyValues(_ text: String?) -> [String: UInt64] {
        var out: [String: UInt64] = [:]
        for line in (text ?? "").split(separator: "\n") {
            let parts = line.split(separator: " ")
            guard parts.count == 2, let value = UInt64(parts[1]) else { continue }
            out[String(parts[0])] = value
        }
        return out
    }

    /// v1 blkio files: "8:0 Read 4096" lines (a final "Total N" line is skipped).
    static func v1Blkio(_ text: String?) -> [BlkioEntry] {
        var out: [BlkioEntry] = []
        for line in (text ?? "").split(separator: "\n") {
            let parts = line.split(separator: " ")
            guard parts.count == 3, let (major, minor) = device(parts[0]), let value = UInt64(parts[2]) else { continue }
            out.append(BlkioEntry(major: major, minor: minor, op: String(parts[1]), value: value))
        }
        return out
    }

    /// v2 io.stat: "8:0 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=0 dios=0" lines, reported as
    /// v1-style Read/Write entries (bytes) and Read/Write entries (operations).
    static func v2IOStat(_ text: String?) -> (bytes: [BlkioEntry], ios: [BlkioEntry]) {
        var bytes: [BlkioEntry] = []
        var ios: [BlkioEntry] = []
        for line in (text ?? "").split(separator: "\n") {
            let parts = line.split(separator: " ")
            guard let first = parts.first, let (major, minor) = device(first) else { continue }
            var fields: [String: UInt64] = [:]
            for field in parts.dropFirst() {
                let pair = field.split(separator: "=")
                if pair.count == 2, let value = UInt64(pair[1]) { fields[String(pair[0])] = value }
            }
            for (key, op) in [("rbytes", "Read"), ("wbytes", "Write")] {
                if let value = fields[key] { bytes.append(BlkioEntry(major: major, minor: minor, op: op, value: value)) }
            }
            for (key, op) in [("rios", "Read"), ("wios", "Write")] {
                if let value = fields[key] { ios.append(BlkioEntry(major: major, minor: minor, op: op, value: value)) }
            }
        }
        return (bytes, ios)
    }

    private static func device(_ text: Substring) -> (UInt64, UInt64)? {
        let numbers = text.split(separator: ":")
        guard numbers.count == 2, let major = UInt64(numbers[0]), let minor = UInt64(numbers[1]) else { return nil }
        return (major, minor)
    }
}
