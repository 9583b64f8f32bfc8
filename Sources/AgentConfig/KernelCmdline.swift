/// Parsing of the kernel command line (/proc/cmdline) the way upstream's agent does.
extension AgentConfiguration {
    /// Reads configuration from a kernel command line.
    ///
    /// Flags (`agent.debug_console`, `agent.devmode`, bare `agent.trace`) must match exactly;
    /// other parameters are `key=value`; a later duplicate wins. `agent.config_file=PATH`
    /// loads that TOML file instead and ignores every other `agent.*` parameter (if the file
    /// cannot be used, a warning says so and the command line is used). The kernel's own
    /// `systemd.unified_cgroup_hierarchy` and `cgroup_no_v1` apply either way, unless the
    /// file sets `unified_cgroup_hierarchy`. Bad values are reported as warnings and the
    /// default is kept. Environment overrides are not applied here (see `load`).
    public static func parse(cmdline: String, readFile: (String) throws -> String) -> LoadedConfiguration {
        // Split on the bytes, as upstream splits on ASCII whitespace: the Character view would
        // bring the stdlib's grapheme-breaking code into every agent start.
        let params = cmdline.utf8.split(whereSeparator: { $0 == 0x20 || $0 == 0x09 || $0 == 0x0A || $0 == 0x0D })
            .map { String(decoding: $0, as: UTF8.self) }
        var config = AgentConfiguration()
        var collector = WarningCollector()

        for param in params {
            let (key, value) = split(param)
            guard let value else { continue }
            switch key {
            case "systemd.unified_cgroup_hierarchy":
                collector.apply(boolResult(value), parameter: key, value: value, to: &config.unifiedCgroupHierarchy)
            case "cgroup_no_v1":
                // Upstream keeps only "all": other values name single controllers, which do not
                // make the hierarchy v2-only.
                if value == "all" { config.cgroupNoV1 = value }
            default:
                continue
            }
        }

        if let fileParam = params.last(where: { $0.hasPrefix("agent.config_file=") }) {
            let path = String(fileParam.dropFirst("agent.config_file=".count))
            do {
                let text = try readFile(path)
                var loaded = try parse(toml: text, file: path, base: config)
                loaded.warnings.insert(contentsOf: collector.warnings, at: 0)
                return loaded
            } catch {
                collector.warn("agent.config_file", path, "\(error); using the kernel command line instead")
            }
        }

        for param in params where param.hasPrefix("agent.") {
            parseAgentParameter(param, into: &config, collector: &collector)
        }
        return LoadedConfiguration(configuration: config, warnings: collector.warnings)
    }

    private static func parseAgentParameter(_ param: String, into config: inout AgentConfiguration, collector: inout WarningCollector) {
        switch param {
        case "agent.debug_console": config.debugConsole = true; return
        case "agent.debug_vsock_loopback": config.vsockGuestClients = true; return
        case "agent.devmode": config.devMode = true; return
        case "agent.trace": config.tracing = true; return  // bare form, kept from Kata 1.x
        default: break
        }
        let (key, valueOrNil) = split(param)
        guard let value = valueOrNil else { return }  // unknown flag or a near-miss like agent.debug_consolex
        switch key {
        case "agent.log":
            collector.apply(ValueParsing.logLevel(value), parameter: key, value: value, to: &config.logLevel)
        case "agent.server_addr":
            collector.apply(ValueParsing.serverAddress(value), parameter: key, value: value, to: &config.serverAddress)
        case "agent.hotplug_timeout":
            collector.apply(ValueParsing.timeout(value), parameter: key, value: value, to: &config.hotplugTimeout)
        case "agent.debug_console_vport":
            collector.apply(ValueParsing.port(value), parameter: key, value: value, to: &config.debugConsoleVport)
        case "agent.log_vport":
            collector.apply(ValueParsing.port(value), parameter: key, value: value, to: &config.logVport)
        case "agent.passfd_listener_port":
            collector.apply(ValueParsing.port(value), parameter: key, value: value, to: &config.passfdListenerPort)
        case "agent.container_pipe_size":
            collector.apply(ValueParsing.pipeSize(value), parameter: key, value: value, to: &config.containerPipeSize)
        case "agent.trace":
            collector.apply(boolResult(value), parameter: key, value: value, to: &config.tracing)
        case "agent.init_zygote":
            collector.apply(boolResult(value), parameter: key, value: value, to: &config.initZygote)
        default:
            break  // other agent.* parameters belong to features this agent does not have
        }
    }

    /// `key=value` split at the first '=' (values may contain '='); nil value for a flag.
    static func split(_ param: String) -> (String, String?) {
        let bytes = param.utf8
        guard let equals = bytes.firstIndex(of: UInt8(ascii: "=")) else { return (param, nil) }
        return (String(decoding: bytes[..<equals], as: UTF8.self),
                String(decoding: bytes[bytes.index(after: equals)...], as: UTF8.self))
    }

    static func boolResult(_ text: String) -> Parsed<Bool> {
        guard let value = ValueParsing.bool(text) else { return .failure("not a boolean (true, false or an integer)") }
        return .success(value)
    }
}
