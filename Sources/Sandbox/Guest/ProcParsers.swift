/// Parsers for the /proc files GetMetrics reports; each tolerates unknown or malformed lines by
/// skipping them, because a metrics scrape must not fail on a kernel that prints one more column.
enum ProcParsers {
    /// /proc/meminfo: "MemTotal:       16314252 kB" -> ("MemTotal", bytes).
    static func meminfo(_ text: String) -> [(String, Double)] {
        var result: [(String, Double)] = []
        for line in text.split(separator: "\n") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let key = String(line[..<colon])
            let fields = line[line.index(after: colon)...].split(separator: " ")
            guard let first = fields.first, let value = Double(first) else { continue }
            let scale: Double = fields.count > 1 && fields[1] == "kB" ? 1024 : 1
            result.append((key, value * scale))
        }
        return result
    }

    /// /proc/loadavg: "0.12 0.34 0.56 1/234 5678".
    struct LoadAverage: Equatable {
        var load1: Double, load5: Double, load15: Double
        var running: Double, total: Double
    }

    static func loadavg(_ text: String) -> LoadAverage? {
        let fields = text.split(whereSeparator: { $0 == " " || $0 == "\n" })
        guard fields.count >= 4, let l1 = Double(fields[0]), let l5 = Double(fields[1]), let l15 = Double(fields[2])
        else { return nil }
        let tasks = fields[3].split(separator: "/")
        guard tasks.count == 2, let running = Double(tasks[0]), let total = Double(tasks[1]) else { return nil }
        return LoadAverage(load1: l1, load5: l5, load15: l15, running: running, total: total)
    }

    static let cpuColumns = ["user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal", "guest", "guest_nice"]

    /// /proc/stat "cpu" and "cpuN" lines -> (cpu label "total" or "N", [(column, seconds)]).
    static func cpuTimes(_ text: String, ticksPerSecond: Double) -> [(String, [(String, Double)])] {
        var result: [(String, [(String, Double)])] = []
        for line in text.split(separator: "\n") where line.hasPrefix("cpu") {
            let fields = line.split(separator: " ")
            guard let name = fields.first else { continue }
            let label = name == "cpu" ? "total" : String(name.dropFirst(3))
            guard label == "total" || Int(label) != nil else { continue }
            var columns: [(String, Double)] = []
            for (column, field) in zip(cpuColumns, fields.dropFirst()) {
                guard let ticks = Double(field) else { continue }
                columns.append((column, ticks / ticksPerSecond))
            }
            result.append((label, columns))
        }
        return result
    }

    static let diskColumns = [
        "reads", "reads_merged", "sectors_read", "read_time_ms", "writes", "writes_merged",
        "sectors_written", "write_time_ms", "io_in_progress", "io_time_ms", "weighted_io_time_ms",
        "discards", "discards_merged", "sectors_discarded", "discard_time_ms", "flushes", "flush_time_ms",
    ]

    /// /proc/diskstats: "major minor name col..." -> (name, [(column, value)]).
    static func diskstats(_ text: String) -> [(String, [(String, Double)])] {
        var result: [(String, [(String, Double)])] = []
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: " ")
            guard fields.count >= 4 else { continue }
            var columns: [(String, Double)] = []
            for (column, field) in zip(diskColumns, fields.dropFirst(3)) {
                guard let value = Double(field) else { continue }
                columns.append((column, value))
            }
            result.append((String(fields[2]), columns))
        }
        return result
    }

    static let netColumns = [
        "recv_bytes", "recv_packets", "recv_errs", "recv_drop", "recv_fifo", "recv_frame", "recv_compressed",
        "recv_multicast", "sent_bytes", "sent_packets", "sent_errs", "sent_drop", "sent_fifo", "sent_colls",
        "sent_carrier", "sent_compressed",
    ]

    /// /proc/net/dev: two header lines, then "  eth0: col...".
    static func netdev(_ text: String) -> [(String, [(String, Double)])] {
        var result: [(String, [(String, Double)])] = []
        for line in text.split(separator: "\n") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let name = line[..<colon].trimmingSpaces()
            let fields = line[line.index(after: colon)...].split(separator: " ")
            guard !name.isEmpty, !fields.isEmpty, fields.allSatisfy({ Double($0) != nil }) else { continue }
            result.append((name, zip(netColumns, fields).compactMap { column, field in Double(field).map { (column, $0) } }))
        }
        return result
    }

    /// The fields of /proc/<pid>/stat that follow the parenthesised command (which may hold spaces).
    struct ProcessStat: Equatable {
        var userTicks: Double, systemTicks: Double
        var threads: Double, virtualBytes: Double, residentPages: Double
    }

    static func processStat(_ text: String) -> ProcessStat? {
        guard let close = text.lastIndex(of: ")") else { return nil }
        // After ")": state(3) ppid ... utime is field 14, stime 15, num_threads 20, vsize 23, rss 24.
        let fields = text[text.index(after: close)...].split(whereSeparator: { $0 == " " || $0 == "\n" })
        func field(_ number: Int) -> Double? {
            let index = number - 3
            return fields.indices.contains(index) ? Double(fields[index]) : nil
        }
        guard let utime = field(14), let stime = field(15), let threads = field(20), let vsize = field(23), let rss = field(24)
        else { return nil }
        return ProcessStat(userTicks: utime, systemTicks: stime, threads: threads, virtualBytes: vsize, residentPages: rss)
    }
}

extension Substring {
    fileprivate func trimmingSpaces() -> String {
        String(drop(while: { $0 == " " }).reversed().drop(while: { $0 == " " }).reversed())
    }
}
