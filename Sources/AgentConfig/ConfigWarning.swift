/// A configuration value that was rejected; the default (or earlier value) was kept.
public struct ConfigWarning: Sendable, Equatable, CustomStringConvertible {
    /// The parameter as written: "agent.log", "hotplug_timeout", "KATA_AGENT_LOG_LEVEL".
    public let parameter: String
    /// The rejected value.
    public let value: String
    /// Why it was rejected.
    public let reason: String

    public init(parameter: String, value: String, reason: String) {
        self.parameter = parameter
        self.value = value
        self.reason = reason
    }

    public var description: String { "ignoring \(parameter)=\(value): \(reason); keeping the default" }
}

/// A configuration that cannot be used at all (an explicit `--config` file that is missing or
/// not valid TOML).
public struct ConfigError: Error, Sendable, Equatable, CustomStringConvertible {
    public let file: String
    public let reason: String

    public init(file: String, reason: String) {
        self.file = file
        self.reason = reason
    }

    public var description: String { "agent config file \(file): \(reason)" }
}
