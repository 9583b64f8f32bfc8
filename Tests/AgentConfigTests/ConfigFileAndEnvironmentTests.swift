import XCTest
@testable import AgentConfig

final class ConfigFileAndEnvironmentTests: XCTestCase {
    func testUpstreamFieldNames() throws {
        let toml = """
            debug_console = true
            dev_mode = true
            log_level = "debug"
            hotplug_timeout = { secs = 7, nanos = 0 }
            debug_console_vport = 1026
            log_vport = 1025
            container_pipe_size = 4096
            server_addr = 'vsock://8:2048'
            passfd_listener_port = 1027
            unified_cgroup_hierarchy = true
            tracing = true
            init_zygote = false
            policy_file = "/etc/policy.rego"
            unknown_key = 3

            [endpoints]
            allowed = ["CreateContainerRequest"]
            """
        let loaded = try AgentConfiguration.parse(toml: toml, file: "t.toml")
        let config = loaded.configuration
        XCTAssertEqual(loaded.warnings, [])
        XCTAssertTrue(config.debugConsole)
        XCTAssertTrue(config.devMode)
        XCTAssertEqual(config.logLevel, .debug)
        XCTAssertEqual(config.hotplugTimeout, .seconds(7))
        XCTAssertEqual(config.debugConsoleVport, 1026)
        XCTAssertEqual(config.logVport, 1025)
        XCTAssertEqual(config.containerPipeSize, 4096)
        XCTAssertEqual(config.serverAddress, .vsock(cid: 8, port: 2048))
        XCTAssertEqual(config.passfdListenerPort, 1027)
        XCTAssertTrue(config.usesCgroupV2)
        XCTAssertTrue(config.tracing)
        XCTAssertFalse(config.initZygote)
        XCTAssertEqual(config.policyFile, "/etc/policy.rego")
    }

    func testWholeSecondsTimeout() throws {
        let config = try AgentConfiguration.parse(toml: "hotplug_timeout = 9", file: "t").configuration
        XCTAssertEqual(config.hotplugTimeout, .seconds(9))
    }

    func testTimeoutsPastOneDayOrWithBadNanosWarnAndKeepTheDefault() throws {
        let cases = [
            "hotplug_timeout = { secs = 9223372036854775807, nanos = 1000000000 }",
            "hotplug_timeout = { secs = 86400, nanos = 1 }",
            "hotplug_timeout = 86401",
            "hotplug_timeout = { secs = 1, nanos = -1 }",
            "hotplug_timeout = { secs = 1, nanos = 1000000000 }",
        ]
        for toml in cases {
            let loaded = try AgentConfiguration.parse(toml: toml, file: "t")
            XCTAssertEqual(loaded.configuration.hotplugTimeout, .seconds(3), toml)
            XCTAssertEqual(loaded.warnings.map(\.parameter), ["hotplug_timeout"], toml)
            // The announce line's summary reads it: it must not trap either.
            XCTAssertTrue(loaded.configuration.summaryText.contains("hotplug_timeout=3s"), toml)
        }
        let longest = try AgentConfiguration.parse(toml: "hotplug_timeout = { secs = 86400, nanos = 0 }", file: "t")
        XCTAssertEqual(longest.configuration.hotplugTimeout, .seconds(86_400))
        let fraction = try AgentConfiguration.parse(toml: "hotplug_timeout = { secs = 0, nanos = 500000000 }", file: "t")
        XCTAssertEqual(fraction.configuration.hotplugTimeout, .milliseconds(500))
    }

    func testBadTypesAndValuesWarnAndKeepDefaults() throws {
        let toml = """
            dev_mode = "yes"
            log_level = "loud"
            hotplug_timeout = 0
            log_vport = -5
            container_pipe_size = -1
            server_addr = "nowhere"
            """
        let loaded = try AgentConfiguration.parse(toml: toml, file: "t")
        var expected = AgentConfiguration()
        expected.configFile = "t"
        XCTAssertEqual(loaded.configuration, expected)
        XCTAssertEqual(Set(loaded.warnings.map(\.parameter)),
                       ["dev_mode", "log_level", "hotplug_timeout", "log_vport", "container_pipe_size", "server_addr"])
    }

    func testSyntaxErrorThrows() {
        XCTAssertThrowsError(try AgentConfiguration.parse(toml: "dev_mode = = true", file: "/etc/bad.toml")) { error in
            XCTAssertTrue("\(error)".contains("/etc/bad.toml"))
        }
    }

    func testExplicitConfigFileMustExist() {
        XCTAssertThrowsError(try AgentConfiguration.load(configFile: "/nonexistent.toml", environment: [:]))
    }

    func testEnvironmentOverridesCmdlineAndFile() throws {
        let env = [
            "KATA_AGENT_SERVER_ADDR": "unix://@agent", "KATA_AGENT_LOG_LEVEL": "trace",
            "KATA_AGENT_TRACING": "true", "KATA_AGENT_POLICY_FILE": "/p.rego", "KATA_AGENT_INIT_ZYGOTE": "false",
        ]
        let fromCmdline = try AgentConfiguration.load(configFile: nil, cmdline: "agent.log=debug", environment: env)
        XCTAssertEqual(fromCmdline.configuration.serverAddress, .unixAbstract(name: "agent"))
        XCTAssertEqual(fromCmdline.configuration.logLevel, .trace)
        XCTAssertTrue(fromCmdline.configuration.tracing)
        XCTAssertEqual(fromCmdline.configuration.policyFile, "/p.rego")
        XCTAssertFalse(fromCmdline.configuration.initZygote)

        let fromFile = try AgentConfiguration.load(configFile: "/c.toml", environment: env) { _ in "log_level = 'error'" }
        XCTAssertEqual(fromFile.configuration.logLevel, .trace)
    }

    func testBadEnvironmentValuesWarn() throws {
        let loaded = try AgentConfiguration.load(
            configFile: nil, cmdline: "agent.log=debug",
            environment: ["KATA_AGENT_LOG_LEVEL": "x", "KATA_AGENT_SERVER_ADDR": "vsock://y:1", "KATA_AGENT_TRACING": "nah"])
        XCTAssertEqual(loaded.configuration.logLevel, .debug)
        XCTAssertEqual(loaded.configuration.serverAddress, .default)
        XCTAssertEqual(loaded.warnings.map(\.parameter), ["KATA_AGENT_SERVER_ADDR", "KATA_AGENT_LOG_LEVEL", "KATA_AGENT_TRACING"])
    }
}
