import Foundation
import OCISpec

/// Specs shaped like `runc spec`'s default, for the engine tests.
enum TestSpecs {
    static let defaultMounts: [Mount] = [
        Mount(destination: "/proc", type: "proc", source: "proc"),
        Mount(destination: "/dev", type: "tmpfs", source: "tmpfs", options: ["nosuid", "strictatime", "mode=755", "size=65536k"]),
        Mount(destination: "/dev/pts", type: "devpts", source: "devpts",
              options: ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]),
        Mount(destination: "/dev/shm", type: "tmpfs", source: "shm", options: ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]),
        Mount(destination: "/dev/mqueue", type: "mqueue", source: "mqueue", options: ["nosuid", "noexec", "nodev"]),
        Mount(destination: "/sys", type: "sysfs", source: "sysfs", options: ["nosuid", "noexec", "nodev", "ro"]),
    ]

    static func basic(_ args: [String], rootfs: String = "rootfs", hostname: String = "kata-test") -> Spec {
        Spec(
            process: Process(user: User(), args: args, env: ["PATH=/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"], cwd: "/"),
            root: Root(path: rootfs, readonly: false),
            hostname: hostname,
            mounts: defaultMounts,
            linux: Linux(
                namespaces: ["pid", "ipc", "uts", "mount", "network"].map { LinuxNamespace(type: $0) },
                maskedPaths: ["/proc/kcore", "/proc/keys", "/sys/firmware", "/proc/scsi"],
                readonlyPaths: ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]))
    }
}
