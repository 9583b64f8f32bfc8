import Logging

/// `agent.log` levels, named as upstream (logrus names, plus trace).
public enum AgentLogLevel: String, Sendable, Equatable, CaseIterable {
    case critical, error, warn, info, debug, trace

    /// Parses upstream's accepted names: fatal/panic/critical, error, warn/warning, info, debug, trace.
    public init?(name: String) {
        switch name {
        case "fatal", "panic", "critical": self = .critical
        case "error": self = .error
        case "warn", "warning": self = .warn
        case "info": self = .info
        case "debug": self = .debug
        case "trace": self = .trace
        default: return nil
        }
    }

    /// The swift-log level that lets exactly these records through.
    public var loggerLevel: Logger.Level {
        switch self {
        case .critical: return .critical
        case .error: return .error
        case .warn: return .warning
        case .info: return .info
        case .debug: return .debug
        case .trace: return .trace
        }
    }
}
