#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// GetMetrics: Prometheus text exposition of the agent process (kata_agent_*) and the guest
/// (kata_guest_*), read from procfs on every scrape. Metric names follow upstream's.
public final class GuestMetrics: Sendable {
    public let roots: GuestRoots
    private let scrapes = Atomic<UInt64>(0)

    public init(roots: GuestRoots) {
        self.roots = roots
    }

    /// One scrape. A /proc file that cannot be read leaves its metrics out rather than failing
    /// the scrape (a guest kernel may lack e.g. diskstats), except the agent's own stat.
    public func scrape() throws(GuestOperationError) -> String {
        let count = scrapes.add(1, ordering: .relaxed).newValue
        var out = PrometheusText()
        out.counter("kata_agent_scrape_count", help: "Metrics scrape count", value: Double(count))
        try agentMetrics(into: &out)
        guestMetrics(into: &out)
        return out.text
    }

    private func agentMetrics(into out: inout PrometheusText) throws(GuestOperationError) {
        let statPath = roots.procfs + "/self/stat"
        let statText = try GuestFileIO.read(statPath, operation: "read agent stat")
        guard let stat = ProcParsers.processStat(statText) else {
            throw GuestOperationError(.system, operation: "read agent stat", path: statPath, reason: "unparseable")
        }
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        let page = Double(sysconf(Int32(_SC_PAGESIZE)))
        out.gauge("kata_agent_threads", help: "Agent process threads", value: stat.threads)
        out.gauge(
            "kata_agent_total_time", help: "Agent process total time (user + system CPU seconds)",
            value: (stat.userTicks + stat.systemTicks) / ticks)
        out.gauge("kata_agent_total_vm", help: "Agent process total VM size", value: stat.virtualBytes)
        out.gauge("kata_agent_total_rss", help: "Agent process total RSS size", value: stat.residentPages * page)
        if let fds = try? GuestFileIO.list(roots.procfs + "/self/fd", operation: "list agent fds") {
            out.gauge("kata_agent_open_fds", help: "Agent process open file descriptors", value: Double(fds.count))
        }
        out.family(
            "kata_agent_proc_stat", help: "Agent process statistics.", type: "gauge",
            samples: [
                (["item": "utime"], stat.userTicks / ticks), (["item": "stime"], stat.systemTicks / ticks),
            ])
    }

    private func guestMetrics(into out: inout PrometheusText) {
        let proc = roots.procfs
        if let text = try? GuestFileIO.read(proc + "/loadavg", operation: "read loadavg"),
            let load = ProcParsers.loadavg(text)
        {
            out.family(
                "kata_guest_load", help: "Guest system load.", type: "gauge",
                samples: [(["item": "load1"], load.load1), (["item": "load5"], load.load5), (["item": "load15"], load.load15)])
            out.family(
                "kata_guest_tasks", help: "Guest system tasks.", type: "gauge",
                samples: [(["item": "cur"], load.running), (["item": "max"], load.total)])
        }
        if let text = try? GuestFileIO.read(proc + "/stat", operation: "read stat") {
            let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
            var samples: [([String: String], Double)] = []
            for (cpu, columns) in ProcParsers.cpuTimes(text, ticksPerSecond: ticks) {
                for (item, seconds) in columns { samples.append((["cpu": cpu, "item": item], seconds)) }
            }
            out.family("kata_guest_cpu_time", help: "Guest CPU statistics.", type: "gauge", samples: samples)
        }
        if let text = try? GuestFileIO.read(proc + "/meminfo", operation: "read meminfo") {
            let samples = ProcParsers.meminfo(text).map { (["item": Self.snakeCase($0.0)], $0.1) }
            out.family("kata_guest_meminfo", help: "Statistics about memory usage in the system.", type: "gauge", samples: samples)
        }
        if let text = try? GuestFileIO.read(proc + "/diskstats", operation: "read diskstats") {
            var samples: [([String: String], Double)] = []
            for (disk, columns) in ProcParsers.diskstats(text) {
                for (item, value) in columns { samples.append((["disk": disk, "item": item], value)) }
            }
            out.family("kata_guest_diskstat", help: "Disks statistics in system.", type: "gauge", samples: samples)
        }
        if let text = try? GuestFileIO.read(proc + "/net/dev", operation: "read net/dev") {
            var samples: [([String: String], Double)] = []
            for (interface, columns) in ProcParsers.netdev(text) {
                for (item, value) in columns { samples.append((["interface": interface, "item": item], value)) }
            }
            out.family("kata_guest_netdev_stat", help: "Guest net devices statistics.", type: "gauge", samples: samples)
        }
    }

    /// "MemTotal" -> "mem_total", "Active(anon)" -> "active_anon", "DirectMap4k" -> "direct_map4k".
    static func snakeCase(_ key: String) -> String {
        var result = ""
        var previousLower = false
        for character in key {
            if character.isLetter || character.isNumber {
                if character.isUppercase && previousLower { result += "_" }
                result += character.lowercased()
                previousLower = character.isLowercase || character.isNumber
            } else {
                if !result.hasSuffix("_") && !result.isEmpty { result += "_" }
                previousLower = false
            }
        }
        while result.hasSuffix("_") { result.removeLast() }
        return result
    }
}

/// Builds the Prometheus text exposition format (version 0.0.4).
struct PrometheusText {
    private(set) var text = ""

    mutating func gauge(_ name: String, help: String, value: Double) {
        family(name, help: help, type: "gauge", samples: [([:], value)])
    }

    mutating func counter(_ name: String, help: String, value: Double) {
        family(name, help: help, type: "counter", samples: [([:], value)])
    }

    mutating func family(_ name: String, help: String, type: String, samples: [([String: String], Double)]) {
        guard !samples.isEmpty else { return }
        text += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
        for (labels, value) in samples {
            text += name
            if !labels.isEmpty {
                let rendered = labels.sorted { $0.key < $1.key }.map { "\($0.key)=\"\(Self.escape($0.value))\"" }
                text += "{" + rendered.joined(separator: ",") + "}"
            }
            text += " " + Self.format(value) + "\n"
        }
    }

    static func escape(_ value: String) -> String {
        var result = ""
        for character in value {
            switch character {
            case "\\": result += "\\\\"
            case "\"": result += "\\\""
            case "\n": result += "\\n"
            default: result.append(character)
            }
        }
        return result
    }

    static func format(_ value: Double) -> String {
        if value.isNaN { return "NaN" }
        if value.isInfinite { return value > 0 ? "+Inf" : "-Inf" }
        if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
        return String(value)
    }
}
