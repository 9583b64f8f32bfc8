import AgentConfig
import CLinuxShim
import Glibc
import LinuxKit
import Logging

/// What the agent does as PID 1 before serving (upstream main.rs init_agent_as_init).
enum InitDuties {
    /// proc, sysfs, devtmpfs, shm, devpts, /run: needed before /proc/cmdline can be read.
    /// Failure is fatal (reported by the caller, which powers off).
    static func mountBase(system: any SystemCalls, logger: Logger) throws(SyscallError) {
        try InitMounts.apply(InitMounts.base, system: system, logger: logger)
    }

    /// Cgroups, /dev/ptmx, session and controlling tty, PATH, hostname, lo. Runs on the main
    /// thread before other threads exist (setenv is not thread-safe). Failures other than
    /// the cgroup mounts are logged and boot continues, as upstream.
    static func run(configuration: AgentConfiguration, system: any SystemCalls, logger: Logger) throws(SyscallError) {
        let procCgroups = (try? system.readFile("/proc/cgroups")) ?? ""
        let (mounts, warning) = InitMounts.cgroupMounts(v2: configuration.usesCgroupV2, procCgroups: procCgroups)
        if let warning { logger.warning("\(warning)") }
        try InitMounts.apply(mounts, system: system, logger: logger)
        if !configuration.usesCgroupV2, !mounts.isEmpty {
            // Hierarchical memory accounting for v1 (v2 always has it).
            try? system.writeFileInPlace("/sys/fs/cgroup/memory/memory.use_hierarchy", contents: "1", mode: 0o644)
        }

        do {
            try InitMounts.linkPtmx(system: system)
        } catch {
            logger.warning("cannot link /dev/ptmx to pts/ptmx", metadata: ["error": "\(error)"])
        }

        // A session of our own with the console as controlling terminal, so the debug
        // console and signals behave; failing is harmless (already a session leader).
        _ = setsid()
        _ = core_set_controlling_tty(0, 1)

        setenv("PATH", "/bin:/sbin:/usr/bin:/usr/sbin", 1)

        let hostname = HostnameInit.initialHostname(system: system)
        do {
            try system.setHostname(hostname)
        } catch {
            logger.warning("cannot set hostname", metadata: ["hostname": "\(hostname)", "error": "\(error)"])
        }

        do {
            try NetLoopback.bringUp(system: system)
        } catch {
            logger.warning("cannot bring up lo", metadata: ["error": "\(error)"])
        }
    }

    /// Modules named in /etc/modules-load.d/*.conf, before the server opens (vsock or
    /// virtio-serial may be modules). Failures are logged; the server start reports what is
    /// then missing.
    static func loadModules(system: any SystemCalls, logger: Logger) {
        let loader = KernelModuleLoader(system: system, logger: logger)
        let failures = loader.loadModulesLoadDirectory()
        if !failures.isEmpty {
            logger.error("some kernel modules from /etc/modules-load.d failed to load", metadata: ["count": "\(failures.count)"])
        }
    }

    /// devmode: allow core dumps of the agent.
    static func allowCoreDumps(logger: Logger) {
        var limit = rlimit(rlim_cur: rlim_t.max, rlim_max: rlim_t.max)  // RLIM_INFINITY
        if setrlimit(__rlimit_resource_t(RLIMIT_CORE.rawValue), &limit) != 0 {
            logger.warning("devmode: cannot raise RLIMIT_CORE", metadata: ["errno": "\(errno)"])
        }
    }
}
