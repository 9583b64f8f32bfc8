import XCTest
@testable import AgentConfig

final class KernelCmdlineTests: XCTestCase {
    private func parse(_ cmdline: String, files: [String: String] = [:]) -> LoadedConfiguration {
        AgentConfiguration.parse(cmdline: cmdline) { path in
            guard let text = files[path] else { throw CocoaError(.fileNoSuchFile) }
            return text
        }
    }

    func testDefaultsAreUpstreams() {
        let config = parse("").configuration
        XCTAssertFalse(config.debugConsole)
        XCTAssertEqual(config.debugConsoleVport, 0)
        XCTAssertFalse(config.devMode)
        XCTAssertEqual(config.logLevel, .info)
        XCTAssertEqual(config.logVport, 0)
        XCTAssertEqual(config.serverAddress.description, "vsock://-1:1024")
        XCTAssertEqual(config.hotplugTimeout, .seconds(3))
        XCTAssertEqual(config.containerPipeSize, 0)
        XCTAssertFalse(config.tracing)
        XCTAssertTrue(config.initZygote)
        XCTAssertEqual(config.passfdListenerPort, 0)
        XCTAssertFalse(config.usesCgroupV2)
    }

    func testFlagsMustMatchExactly() {
        var config = parse("agent.debug_consolex agent.devmode").configuration
        XCTAssertFalse(config.debugConsole)
        XCTAssertTrue(config.devMode)
        config = parse("agent.debug_console agent.devmodex").configuration
        XCTAssertTrue(config.debugConsole)
        XCTAssertFalse(config.devMode)
        config = parse("foo debug_console agent bar devmode").configuration
        XCTAssertEqual(config, AgentConfiguration())
    }

    /// Parameters are separated by any run of ASCII whitespace, CRLF included; a value keeps
    /// every '=' after the first and any non-ASCII text.
    func testWhitespaceRunsSeparateAndValuesKeepTheirBytes() {
        let config = parse("quiet\t agent.log=debug\r\nagent.server_addr=unix:///run/a=b\n agent.hostname=héllo\u{301} ").configuration
        XCTAssertEqual(config.logLevel, .debug)
        XCTAssertEqual(config.serverAddress, .unix(path: "/run/a=b"))
        XCTAssertEqual(AgentConfiguration.split("agent.x=é=\u{301}").1, "é=\u{301}")
        XCTAssertEqual(AgentConfiguration.split("agent.flag").1, nil)
    }

    /// The init zygote is on unless switched off; a bad value warns and keeps it on.
    func testInitZygoteSwitch() {
        XCTAssertFalse(parse("agent.init_zygote=false").configuration.initZygote)
        XCTAssertFalse(parse("agent.init_zygote=0").configuration.initZygote)
        XCTAssertTrue(parse("agent.init_zygote=1").configuration.initZygote)
        let bad = parse("agent.init_zygote=maybe")
        XCTAssertTrue(bad.configuration.initZygote)
        XCTAssertEqual(bad.warnings.map(\.parameter), ["agent.init_zygote"])
    }

    /// In-guest vsock clients (which containers are too) are served only on request.
    func testVsockLoopbackClientsOnlyWhenAsked() {
        XCTAssertFalse(parse("agent.debug_console").configuration.vsockGuestClients)
        XCTAssertTrue(parse("agent.debug_vsock_loopback").configuration.vsockGuestClients)
        XCTAssertFalse(parse("agent.debug_vsock_loopbackx").configuration.vsockGuestClients)
        var config = AgentConfiguration()
        XCTAssertTrue(config.applyEnvironment(["KATA_AGENT_DEBUG_VSOCK_LOOPBACK": "1"]).isEmpty)
        XCTAssertTrue(config.vsockGuestClients)
        XCTAssertEqual(config.applyEnvironment(["KATA_AGENT_DEBUG_VSOCK_LOOPBACK": "maybe"]).count, 1)
    }

    func testKeyValueOptions() {
        let loaded = parse("""
            quiet agent.log=debug agent.server_addr=unix:///run/a.sock agent.hotplug_timeout=10 \
            agent.debug_console_vport=1026 agent.log_vport=1025 agent.container_pipe_size=65536 \
            agent.passfd_listener_port=1027 console=ttyS0
            """)
        let config = loaded.configuration
        XCTAssertEqual(loaded.warnings, [])
        XCTAssertEqual(config.logLevel, .debug)
        XCTAssertEqual(config.serverAddress, .unix(path: "/run/a.sock"))
        XCTAssertEqual(config.hotplugTimeout, .seconds(10))
        XCTAssertEqual(config.debugConsoleVport, 1026)
        XCTAssertEqual(config.logVport, 1025)
        XCTAssertEqual(config.containerPipeSize, 65536)
        XCTAssertEqual(config.passfdListenerPort, 1027)
    }

    func testLaterDuplicateWins() {
        XCTAssertEqual(parse("agent.log=debug agent.log=error").configuration.logLevel, .error)
    }

    func testLogLevelAliases() {
        let cases: [(String, AgentLogLevel)] = [
            ("fatal", .critical), ("panic", .critical), ("critical", .critical), ("error", .error),
            ("warn", .warn), ("warning", .warn), ("info", .info), ("debug", .debug), ("trace", .trace),
        ]
        for (name, level) in cases {
            XCTAssertEqual(parse("agent.log=\(name)").configuration.logLevel, level, name)
        }
        XCTAssertEqual(parse("agent.logx=debug").configuration.logLevel, .info)
    }

    func testBadValuesWarnWithParameterNameAndKeepDefault() {
        let cases: [(String, String)] = [
            ("agent.log=loud", "agent.log"),
            ("agent.hotplug_timeout=0", "agent.hotplug_timeout"),
            ("agent.hotplug_timeout=-3", "agent.hotplug_timeout"),
            ("agent.hotplug_timeout=abc", "agent.hotplug_timeout"),
            // A deadline this far off would overflow the clock and trap PID 1 at its first wait.
            ("agent.hotplug_timeout=9223372036854775807", "agent.hotplug_timeout"),
            ("agent.hotplug_timeout=86401", "agent.hotplug_timeout"),
            ("agent.debug_console_vport=0", "agent.debug_console_vport"),
            ("agent.log_vport=-1", "agent.log_vport"),
            ("agent.log_vport=99999999999", "agent.log_vport"),
            ("agent.container_pipe_size=-1", "agent.container_pipe_size"),
            ("agent.container_pipe_size=1x", "agent.container_pipe_size"),
            ("agent.server_addr=tcp://1.2.3.4:5", "agent.server_addr"),
            ("agent.trace=maybe", "agent.trace"),
            ("systemd.unified_cgroup_hierarchy=yes", "systemd.unified_cgroup_hierarchy"),
        ]
        for (cmdline, parameter) in cases {
            let loaded = parse(cmdline)
            XCTAssertEqual(loaded.configuration, AgentConfiguration(), cmdline)
            XCTAssertEqual(loaded.warnings.map(\.parameter), [parameter], cmdline)
            XCTAssertTrue(loaded.warnings.first?.description.contains(parameter) ?? false)
        }
    }

    func testBooleansTakeTrueFalseOrIntegers() {
        XCTAssertTrue(parse("systemd.unified_cgroup_hierarchy=true").configuration.unifiedCgroupHierarchy)
        XCTAssertTrue(parse("systemd.unified_cgroup_hierarchy=1").configuration.unifiedCgroupHierarchy)
        XCTAssertTrue(parse("systemd.unified_cgroup_hierarchy=42").configuration.unifiedCgroupHierarchy)
        XCTAssertFalse(parse("systemd.unified_cgroup_hierarchy=0").configuration.unifiedCgroupHierarchy)
        XCTAssertFalse(parse("systemd.unified_cgroup_hierarchy=false").configuration.unifiedCgroupHierarchy)
        XCTAssertTrue(parse("agent.trace=1").configuration.tracing)
        XCTAssertTrue(parse("agent.trace").configuration.tracing)
        XCTAssertFalse(parse("agent.trace=false").configuration.tracing)
    }

    func testCgroupV2Selection() {
        XCTAssertTrue(parse("systemd.unified_cgroup_hierarchy=1").configuration.usesCgroupV2)
        XCTAssertTrue(parse("cgroup_no_v1=all").configuration.usesCgroupV2)
        XCTAssertFalse(parse("cgroup_no_v1=memory").configuration.usesCgroupV2)
    }

    func testConfigFileReplacesOtherAgentParameters() {
        let files = ["/etc/agent.toml": "dev_mode = true\nserver_addr = 'vsock://8:2048'\n"]
        let loaded = parse("agent.log=debug agent.config_file=/etc/agent.toml agent.debug_console cgroup_no_v1=all", files: files)
        let config = loaded.configuration
        XCTAssertEqual(loaded.warnings, [])
        XCTAssertTrue(config.devMode)
        XCTAssertEqual(config.serverAddress, .vsock(cid: 8, port: 2048))
        XCTAssertEqual(config.logLevel, .info, "agent.log must be ignored when a config file is given")
        XCTAssertFalse(config.debugConsole)
        XCTAssertTrue(config.usesCgroupV2, "kernel cgroup parameters still apply")
        XCTAssertEqual(config.configFile, "/etc/agent.toml")
    }

    func testUnreadableConfigFileFallsBackToCmdlineWithWarning() {
        let loaded = parse("agent.config_file=/missing.toml agent.log=debug")
        XCTAssertEqual(loaded.configuration.logLevel, .debug)
        XCTAssertEqual(loaded.warnings.map(\.parameter), ["agent.config_file"])
    }
}
