#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import LinuxKit

/// Environment overrides (development and tests) and the full load order.
extension AgentConfiguration {
    /// Applies KATA_AGENT_SERVER_ADDR, KATA_AGENT_LOG_LEVEL, KATA_AGENT_TRACING,
    /// KATA_AGENT_DEBUG_VSOCK_LOOPBACK, KATA_AGENT_INIT_ZYGOTE and KATA_AGENT_POLICY_FILE; bad values
    /// become warnings naming the variable.
    public mutating func applyEnvironment(_ environment: [String: String]) -> [ConfigWarning] {
        var collector = WarningCollector()
        if let value = environment["KATA_AGENT_SERVER_ADDR"] {
            collector.apply(ValueParsing.serverAddress(value), parameter: "KATA_AGENT_SERVER_ADDR", value: value, to: &serverAddress)
        }
        if let value = environment["KATA_AGENT_LOG_LEVEL"] {
            collector.apply(ValueParsing.logLevel(value), parameter: "KATA_AGENT_LOG_LEVEL", value: value, to: &logLevel)
        }
        if let value = environment["KATA_AGENT_TRACING"] {
            collector.apply(Self.boolResult(value), parameter: "KATA_AGENT_TRACING", value: value, to: &tracing)
        }
        if let value = environment["KATA_AGENT_DEBUG_VSOCK_LOOPBACK"] {
            collector.apply(
                Self.boolResult(value), parameter: "KATA_AGENT_DEBUG_VSOCK_LOOPBACK", value: value, to: &vsockGuestClients)
        }
        if let value = environment["KATA_AGENT_INIT_ZYGOTE"] {
            collector.apply(Self.boolResult(value), parameter: "KATA_AGENT_INIT_ZYGOTE", value: value, to: &initZygote)
        }
        if let value = environment["KATA_AGENT_POLICY_FILE"] {
            policyFile = value
        }
        return collector.warnings
    }

    /// The agent's configuration: the `--config` file when given (a missing or malformed file
    /// throws: the operator asked for it explicitly), else the kernel command line (nil reads
    /// /proc/cmdline; unreadable means defaults plus a warning); then the environment.
    public static func load(
        configFile: String?,
        cmdline: String? = nil,
        environment: [String: String] = ProcessEnvironment.current(),
        readFile: (String) throws -> String = readTextFile
    ) throws(ConfigError) -> LoadedConfiguration {
        var loaded: LoadedConfiguration
        if let configFile {
            let text: String
            do {
                text = try readFile(configFile)
            } catch {
                throw ConfigError(file: configFile, reason: "cannot be read: \(error)")
            }
            loaded = try parse(toml: text, file: configFile)
        } else if let cmdline {
            loaded = parse(cmdline: cmdline, readFile: readFile)
        } else {
            do {
                loaded = parse(cmdline: try readFile("/proc/cmdline"), readFile: readFile)
            } catch {
                loaded = LoadedConfiguration(
                    configuration: AgentConfiguration(),
                    warnings: [ConfigWarning(parameter: "/proc/cmdline", value: "", reason: "cannot be read: \(error)")])
            }
        }
        loaded.warnings += loaded.configuration.applyEnvironment(environment)
        return loaded
    }
}

/// Reads a whole text file; errors say which file and the errno text.
public func readTextFile(_ path: String) throws -> String {
    do {
        return try WholeFile.text(path)
    } catch {
        throw FileReadError(path: path, reason: String(cString: strerror(error.errno)))
    }
}

/// A file that could not be read.
public struct FileReadError: Error, Sendable, CustomStringConvertible {
    public let path: String
    public let reason: String
    public var description: String { "\(path): \(reason)" }
}
