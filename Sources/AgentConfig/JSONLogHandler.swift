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
import Logging

/// A swift-log handler writing upstream's JSON lines:
/// `{"msg":..,"level":"INFO","ts":..,"pid":"1","name":"kata-agent","source":"agent","subsystem":..,<fields>}`.
///
/// Levels use slog's names as upstream (CRIT, ERRO, WARN, INFO, DEBG, TRCE). The logger's
/// label is the default subsystem; a `subsystem` metadata value overrides it.
public struct JSONLogHandler: LogHandler {
    public var logLevel: Logger.Level
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    private let subsystem: String
    private let sink: any LogSink
    private let pid: String

    public init(label: String, level: Logger.Level, sink: any LogSink) {
        self.subsystem = label
        self.logLevel = level
        self.sink = sink
        self.pid = String(getpid())
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var fields = metadata
        if let provided = metadataProvider?.get() { fields.merge(provided) { _, new in new } }
        if let extra = event.metadata { fields.merge(extra) { _, new in new } }
        sink.write(line: Self.format(
            message: "\(event.message)", level: event.level, date: Date(), pid: pid,
            subsystem: fields.removeValue(forKey: "subsystem").map { "\($0)" } ?? subsystem, fields: fields))
    }

    /// One JSON line; fixed keys first, then metadata keys sorted so lines are stable.
    static func format(message: String, level: Logger.Level, date: Date, pid: String, subsystem: String, fields: Logger.Metadata) -> String {
        var line = "{"
        line += "\"msg\":" + quote(message)
        line += ",\"level\":" + quote(slogName(level))
        line += ",\"ts\":" + quote(timestamp(date))
        line += ",\"pid\":" + quote(pid)
        line += ",\"name\":\"kata-agent\",\"source\":\"agent\""
        line += ",\"subsystem\":" + quote(subsystem)
        let reserved: Set<String> = ["msg", "level", "ts", "pid", "name", "source"]
        for key in fields.keys.sorted() where !reserved.contains(key) {
            if let value = fields[key] {
                line += "," + quote(key) + ":" + quote(flatten(value))
            }
        }
        return line + "}"
    }

    static func slogName(_ level: Logger.Level) -> String {
        switch level {
        case .critical: return "CRIT"
        case .error: return "ERRO"
        case .warning: return "WARN"
        case .notice, .info: return "INFO"
        case .debug: return "DEBG"
        case .trace: return "TRCE"
        }
    }

    /// RFC 3339 in UTC with microseconds, like slog-json's `ts`.
    static func timestamp(_ date: Date) -> String {
        let interval = date.timeIntervalSince1970
        var seconds = time_t(interval.rounded(.down))
        let micros = Int((interval - Double(seconds)) * 1_000_000)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        let date = padded(Int(parts.tm_year) + 1900, 4) + "-" + padded(Int(parts.tm_mon) + 1, 2) + "-"
            + padded(Int(parts.tm_mday), 2)
        let time = padded(Int(parts.tm_hour), 2) + ":" + padded(Int(parts.tm_min), 2) + ":"
            + padded(Int(parts.tm_sec), 2) + "." + padded(min(micros, 999_999), 6)
        return date + "T" + time + "Z"
    }

    /// `value` left-padded with zeros to `width` digits (`String(format:)` is full Foundation only).
    static func padded(_ value: Int, _ width: Int, radix: Int = 10) -> String {
        let digits = String(value, radix: radix)
        return digits.count >= width ? digits : String(repeating: "0", count: width - digits.count) + digits
    }

    static func flatten(_ value: Logger.MetadataValue) -> String {
        switch value {
        case let .string(text): return text
        case let .stringConvertible(convertible): return convertible.description
        case let .array(values): return "[" + values.map(flatten).joined(separator: ",") + "]"
        case let .dictionary(dict):
            return "{" + dict.keys.sorted().map { "\($0)=\(dict[$0].map(flatten) ?? "")" }.joined(separator: ",") + "}"
        }
    }

    /// A JSON string literal; control characters escaped so one record stays one line. With
    /// `escapingDelete` also U+007F, which makes it a TOML basic string as well.
    static func quote(_ text: String, escapingDelete: Bool = false) -> String {
        var out = "\""
        out.reserveCapacity(text.utf8.count + 2)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 || (escapingDelete && scalar.value == 0x7f) {
                    out += "\\u" + padded(Int(scalar.value), 4, radix: 16)
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }
}

/// Process-wide logging setup for the agent.
public enum AgentLogging {
    /// Installs the JSON handler for every Logger at `level`, writing to `sink`. Call once.
    public static func bootstrap(level: AgentLogLevel, sink: any LogSink) {
        LoggingSystem.bootstrap { label in
            JSONLogHandler(label: label, level: level.loggerLevel, sink: sink)
        }
    }

    /// Logs the "announce" line with the effective configuration, then each configuration
    /// warning naming its parameter.
    public static func announce(_ loaded: LoadedConfiguration, version: String, apiVersion: String = "0.0.1", logger: Logger) {
        var metadata: Logger.Metadata = [
            "agent-version": .string(version), "api-version": .string(apiVersion),
            "config": .string(loaded.configuration.summaryText),
        ]
        if getpid() == 1 { metadata["init-daemon"] = "true" }
        logger.info("announce", metadata: metadata)
        for warning in loaded.warnings {
            logger.warning("invalid configuration value ignored", metadata: [
                "parameter": .string(warning.parameter), "value": .string(warning.value),
                "reason": .string(warning.reason),
            ])
        }
    }
}
