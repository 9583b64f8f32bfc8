/// The TOML configuration file (`agent.config_file`, `kata-agent --config`); keys are the field
/// names of upstream's AgentConfigBuilder. Unknown keys and tables are ignored, as upstream.
extension AgentConfiguration {
    /// Parses a TOML document over `base`. Syntax errors throw; a key with a bad value or type
    /// becomes a warning and keeps the base value.
    public static func parse(toml text: String, file: String, base: AgentConfiguration = AgentConfiguration()) throws(ConfigError) -> LoadedConfiguration {
        let table: TOMLTable
        do {
            table = try TOMLParser.parse(text)
        } catch {
            throw ConfigError(file: file, reason: "not valid TOML: \(error)")
        }
        var config = base
        config.configFile = file
        var collector = WarningCollector()
        var reader = TOMLReader(table: table, collector: collector)

        reader.bool("debug_console") { config.debugConsole = $0 }
        reader.bool("dev_mode") { config.devMode = $0 }
        reader.string("log_level") { value in
            value.map(ValueParsing.logLevel) { config.logLevel = $0 }
        }
        reader.string("server_addr") { value in
            value.map(ValueParsing.serverAddress) { config.serverAddress = $0 }
        }
        reader.integer("debug_console_vport") { value in
            // 0 is valid in a file: it is the default and means /dev/console.
            value.map { $0 == 0 ? .success(0) : ValueParsing.port($0) } apply: { config.debugConsoleVport = $0 }
        }
        reader.integer("log_vport") { value in
            value.map { $0 == 0 ? .success(0) : ValueParsing.port($0) } apply: { config.logVport = $0 }
        }
        reader.integer("passfd_listener_port") { value in
            value.map { $0 == 0 ? .success(0) : ValueParsing.port($0) } apply: { config.passfdListenerPort = $0 }
        }
        reader.integer("container_pipe_size") { value in
            value.map(ValueParsing.pipeSize) { config.containerPipeSize = $0 }
        }
        reader.bool("unified_cgroup_hierarchy") { config.unifiedCgroupHierarchy = $0 }
        reader.bool("tracing") { config.tracing = $0 }
        reader.bool("init_zygote") { config.initZygote = $0 }
        reader.string("policy_file") { value in
            value.map({ .success($0) }) { config.policyFile = $0 }
        }
        reader.duration("hotplug_timeout") { config.hotplugTimeout = $0 }

        collector = reader.collector
        return LoadedConfiguration(configuration: config, warnings: collector.warnings)
    }
}

/// Typed access to the TOML table with warnings for wrong types.
struct TOMLReader {
    let table: TOMLTable
    var collector: WarningCollector

    /// A value of a key, with a way to validate it and report a failure.
    struct Value<Raw> {
        let key: String
        let raw: Raw
        let text: String
        let report: (String) -> Void

        func map<T>(_ validate: (Raw) -> Parsed<T>, apply: (T) -> Void) {
            switch validate(raw) {
            case let .success(value): apply(value)
            case let .failure(rejection): report(rejection.reason)
            }
        }
    }

    mutating func bool(_ key: String, _ apply: (Bool) -> Void) {
        guard let node = table[key] else { return }
        guard let value = node.boolean else { return wrongType(key, node, "a boolean") }
        apply(value)
    }

    mutating func string(_ key: String, _ body: (Value<String>) -> Void) {
        guard let node = table[key] else { return }
        guard let value = node.string else { return wrongType(key, node, "a string") }
        var reasons: [String] = []
        body(Value(key: key, raw: value, text: value, report: { reasons.append($0) }))
        for reason in reasons { collector.warn(key, value, reason) }
    }

    mutating func integer(_ key: String, _ body: (Value<Int64>) -> Void) {
        guard let node = table[key] else { return }
        guard let value = node.integer else { return wrongType(key, node, "an integer") }
        var reasons: [String] = []
        body(Value(key: key, raw: value, text: "\(value)", report: { reasons.append($0) }))
        for reason in reasons { collector.warn(key, "\(value)", reason) }
    }

    /// Upstream deserialises a Rust Duration (`{ secs = N, nanos = M }`); whole seconds are
    /// accepted too. Must be > 0.
    mutating func duration(_ key: String, _ apply: (Duration) -> Void) {
        guard let node = table[key] else { return }
        let seconds: Int64
        var nanos: Int64 = 0
        if let value = node.integer {
            seconds = value
        } else if let sub = node.table, let secs = sub["secs"]?.integer {
            seconds = secs
            nanos = sub["nanos"]?.integer ?? 0
        } else {
            return wrongType(key, node, "seconds as an integer or { secs = N, nanos = M }")
        }
        switch ValueParsing.timeout(seconds: seconds, nanoseconds: nanos) {
        case .success(let duration): apply(duration)
        case .failure(let rejection): collector.warn(key, node.tomlText, rejection.reason)
        }
    }

    private mutating func wrongType(_ key: String, _ node: TOMLValue, _ expected: String) {
        collector.warn(key, node.tomlText, "expected \(expected)")
    }
}
