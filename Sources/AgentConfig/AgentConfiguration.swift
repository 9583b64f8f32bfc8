/// The agent's effective configuration, with upstream's defaults (src/agent/src/config.rs).
public struct AgentConfiguration: Sendable, Equatable {
    /// agent.debug_console: start a debug console.
    public var debugConsole = false
    /// agent.debug_console_vport: >0 serves the console on that vsock port, 0 on /dev/console.
    public var debugConsoleVport: UInt32 = 0
    /// agent.debug_vsock_loopback: vsock listeners also serve in-guest clients (loopback), which
    /// containers are too. For tests on hosts without vhost-vsock; otherwise only the host (CID 2).
    public var vsockGuestClients = false
    /// agent.devmode: allow core dumps.
    public var devMode = false
    /// agent.log.
    public var logLevel: AgentLogLevel = .info
    /// agent.log_vport: >0 serves the log stream on that vsock port; 0 logs to stdout.
    public var logVport: UInt32 = 0
    /// agent.server_addr.
    public var serverAddress: ServerAddress = .default
    /// agent.hotplug_timeout: how long to wait for hot-plugged devices (> 0).
    public var hotplugTimeout: Duration = .seconds(3)
    /// agent.container_pipe_size: F_SETPIPE_SZ for container stdio pipes (0: kernel default).
    public var containerPipeSize: Int32 = 0
    /// agent.trace / KATA_AGENT_TRACING.
    public var tracing = false
    /// agent.init_zygote / init_zygote / KATA_AGENT_INIT_ZYGOTE: start container inits from a
    /// warm zygote process rather than re-executing the agent for each (this agent's own).
    public var initZygote = true
    /// agent.passfd_listener_port (0: off).
    public var passfdListenerPort: UInt32 = 0
    /// systemd.unified_cgroup_hierarchy (kernel command line) / unified_cgroup_hierarchy (file).
    public var unifiedCgroupHierarchy = false
    /// cgroup_no_v1 (only "all" is kept: it means no v1 controller can be mounted).
    public var cgroupNoV1 = ""
    /// KATA_AGENT_POLICY_FILE / policy_file.
    public var policyFile = ""
    /// The TOML file the configuration came from, if any.
    public var configFile: String?

    public init() {}

    /// Whether the guest uses cgroup v2 only.
    public var usesCgroupV2: Bool { unifiedCgroupHierarchy || cgroupNoV1 == "all" }

    /// The configuration as ordered key/value pairs for the "announce" log line.
    public var summary: [(key: String, value: String)] {
        [
            ("debug_console", "\(debugConsole)"), ("debug_console_vport", "\(debugConsoleVport)"),
            ("debug_vsock_loopback", "\(vsockGuestClients)"),
            ("dev_mode", "\(devMode)"), ("log_level", logLevel.rawValue), ("log_vport", "\(logVport)"),
            ("server_addr", serverAddress.description),
            ("hotplug_timeout", "\(hotplugTimeout.components.seconds)s"),
            ("container_pipe_size", "\(containerPipeSize)"), ("tracing", "\(tracing)"),
            ("init_zygote", "\(initZygote)"),
            ("passfd_listener_port", "\(passfdListenerPort)"),
            ("unified_cgroup_hierarchy", "\(unifiedCgroupHierarchy)"), ("cgroup_no_v1", cgroupNoV1),
            ("cgroup_v2", "\(usesCgroupV2)"), ("policy_file", policyFile), ("config_file", configFile ?? ""),
        ]
    }

    /// `summary` as one `key=value ...` string.
    public var summaryText: String {
        summary.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
    }
}

/// A parsed configuration and the values that were rejected on the way.
public struct LoadedConfiguration: Sendable, Equatable {
    public var configuration: AgentConfiguration
    /// Log these once logging is up.
    public var warnings: [ConfigWarning]

    public init(configuration: AgentConfiguration, warnings: [ConfigWarning]) {
        self.configuration = configuration
        self.warnings = warnings
    }
}
