import Glibc
import Logging

/// One mount of the agent's init duties (upstream mount.rs INIT_ROOTFS_MOUNTS and cgroups).
public struct InitMount: Sendable, Equatable {
    public var source: String
    public var target: String
    public var fsType: String
    /// `mount -o` words; flag words become MS_* flags, the rest filesystem data.
    public var options: [String]

    public init(_ fsType: String, _ source: String, _ target: String, _ options: [String]) {
        self.source = source
        self.target = target
        self.fsType = fsType
        self.options = options
    }
}

/// The filesystems PID 1 mounts before anything else runs.
public enum InitMounts {
    /// proc, sysfs, devtmpfs, /dev/shm, devpts and /run, as upstream.
    public static let base: [InitMount] = [
        InitMount("proc", "proc", "/proc", ["nosuid", "nodev", "noexec"]),
        InitMount("sysfs", "sysfs", "/sys", ["nosuid", "nodev", "noexec"]),
        InitMount("devtmpfs", "dev", "/dev", ["nosuid", "mode=0755"]),
        InitMount("tmpfs", "tmpfs", "/dev/shm", ["nosuid", "nodev", "mode=1777"]),
        // ptmxmode: /dev/ptmx becomes a link to pts/ptmx, which must be usable by everyone.
        InitMount("devpts", "devpts", "/dev/pts", ["nosuid", "noexec", "gid=5", "mode=0620", "ptmxmode=0666"]),
        InitMount("tmpfs", "tmpfs", "/run", ["nosuid", "nodev", "mode=0755"]),
    ]

    /// v1 controllers and where upstream mounts them.
    static let v1Controllers: [String] = [
        "cpu", "cpuacct", "blkio", "cpuset", "memory", "devices", "freezer", "net_cls", "perf_event",
        "net_prio", "hugetlb", "pids", "rdma", "misc",
    ]

    /// The cgroup mounts: v2 is one cgroup2 mount with nsdelegate; v1 is a tmpfs with one
    /// mount per enabled controller listed in /proc/cgroups, then the tmpfs remounted
    /// read-only. Without a devices controller v1 is unsafe, so nothing is mounted and the
    /// returned warning says why (as upstream).
    public static func cgroupMounts(v2: Bool, procCgroups: String) -> (mounts: [InitMount], warning: String?) {
        let common = ["nosuid", "nodev", "noexec", "relatime"]
        if v2 {
            return ([InitMount("cgroup2", "cgroup2", "/sys/fs/cgroup", common + ["nsdelegate"])], nil)
        }
        var enabled: [String] = []
        for line in procCgroups.split(separator: "\n") where !line.hasPrefix("#") {
            let fields = line.split(whereSeparator: { $0 == "\t" || $0 == " " })
            guard fields.count >= 4, fields[1...3].allSatisfy({ UInt64($0) != nil }), fields[3] != "0" else { continue }
            enabled.append(String(fields[0]))
        }
        guard enabled.contains("devices") else {
            return ([], "no devices cgroup controller: cgroups are not mounted (containers would have no device isolation)")
        }
        var mounts = [InitMount("tmpfs", "tmpfs", "/sys/fs/cgroup", ["nosuid", "nodev", "noexec", "mode=755"])]
        for controller in v1Controllers where enabled.contains(controller) {
            mounts.append(InitMount("cgroup", "cgroup", "/sys/fs/cgroup/" + controller, common + [controller]))
        }
        mounts.append(InitMount("tmpfs", "tmpfs", "/sys/fs/cgroup", ["remount", "ro", "nosuid", "nodev", "noexec", "mode=755"]))
        return (mounts, nil)
    }

    /// Mount points and their filesystem types from /proc/self/mounts (empty before /proc).
    public static func mounted(system: any SystemCalls) -> [String: String] {
        guard let text = try? system.readFile("/proc/self/mounts") else { return [:] }
        var result: [String: String] = [:]
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: " ")
            if fields.count >= 3 { result[String(fields[1])] = String(fields[2]) }
        }
        return result
    }

    /// Mounts each entry in order, creating mount points; an entry whose target already
    /// carries that filesystem type is skipped (an initramfs may have moved /proc, /sys, /dev
    /// and /run onto the root already). The first failure throws.
    public static func apply(_ mounts: [InitMount], system: any SystemCalls, logger: Logger) throws(SyscallError) {
        // The mount table is read once and kept up to date here: re-reading and parsing it for
        // every entry was quadratic, and PID 1 mounts a dozen cgroup hierarchies this way.
        var table: [String: String]?
        for mount in mounts {
            let options = ParsedMountOptions.parse(mount.options)
            let remount = options.flags.contains(.remount)
            if !remount {
                let current = table ?? mounted(system: system)
                table = current
                if current[mount.target] == mount.fsType {
                    logger.debug("already mounted", metadata: ["target": "\(mount.target)", "type": "\(mount.fsType)"])
                    continue
                }
                try system.makeDirectory(mount.target, mode: 0o755)
            }
            try system.mount(source: mount.source, target: mount.target, fsType: mount.fsType, flags: options.flags, data: options.data)
            if !remount { table?[mount.target] = mount.fsType }
        }
    }

    /// /dev/ptmx as a link to pts/ptmx, so ptys come from the devpts instance mounted above.
    public static func linkPtmx(system: any SystemCalls) throws(SyscallError) {
        try system.removeFile("/dev/ptmx")
        try system.symlink(target: "pts/ptmx", at: "/dev/ptmx")
    }
}
