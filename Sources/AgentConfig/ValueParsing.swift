/// Value rules shared by the command line, the TOML file and the environment.
enum ValueParsing {
    /// Upstream's booleans: exactly "true"/"false", else an unsigned integer (non-zero is true).
    static func bool(_ text: String) -> Bool? {
        switch text {
        case "true": return true
        case "false": return false
        default: return UInt64(text).map { $0 != 0 }
        }
    }

    /// A vsock port: a positive 32-bit number.
    static func port(_ text: String) -> Parsed<UInt32> {
        guard let value = Int64(text) else { return .failure("not an integer") }
        return port(value)
    }

    static func port(_ value: Int64) -> Parsed<UInt32> {
        guard value > 0, value <= Int64(UInt32.max) else { return .failure("a port must be in 1...\(UInt32.max)") }
        return .success(UInt32(value))
    }

    /// A timeout in whole seconds, > 0.
    static func timeout(_ text: String) -> Parsed<Duration> {
        guard let value = Int64(text) else { return .failure("not an integer number of seconds") }
        return timeout(seconds: value)
    }

    static func timeout(seconds: Int64, nanoseconds: Int64 = 0) -> Parsed<Duration> {
        guard nanoseconds >= 0 && nanoseconds < 1_000_000_000 else { return .failure("nanos must be in 0...999999999") }
        guard seconds > 0 || (seconds == 0 && nanoseconds > 0) else { return .failure("must be greater than 0") }
        guard seconds < maximumTimeoutSeconds || (seconds == maximumTimeoutSeconds && nanoseconds == 0) else {
            return .failure("must be at most \(maximumTimeoutSeconds) seconds (one day)")
        }
        return .success(.seconds(seconds) + .nanoseconds(nanoseconds))
    }

    /// The longest timeout taken. A wait's deadline is the clock's now plus the timeout, in
    /// 64-bit seconds: one near Int64.max overflows that sum and traps PID 1.
    static let maximumTimeoutSeconds: Int64 = 86_400

    /// A pipe size in bytes, >= 0 and within Int32.
    static func pipeSize(_ text: String) -> Parsed<Int32> {
        guard let value = Int64(text) else { return .failure("not an integer") }
        return pipeSize(value)
    }

    static func pipeSize(_ value: Int64) -> Parsed<Int32> {
        guard value >= 0 else { return .failure("must not be negative") }
        guard value <= Int64(Int32.max) else { return .failure("too large") }
        return .success(Int32(value))
    }

    static func logLevel(_ text: String) -> Parsed<AgentLogLevel> {
        guard let level = AgentLogLevel(name: text) else {
            return .failure("unknown level (critical, fatal, panic, error, warn, warning, info, debug, trace)")
        }
        return .success(level)
    }

    static func serverAddress(_ text: String) -> Parsed<ServerAddress> {
        do {
            return .success(try ServerAddress.parse(text))
        } catch {
            return .failure(Rejection(reason: "\(error)"))
        }
    }
}

/// Applies a parsed value or records a warning naming the parameter.
struct WarningCollector {
    var warnings: [ConfigWarning] = []

    mutating func apply<T>(_ result: Parsed<T>, parameter: String, value: String, to target: inout T) {
        switch result {
        case let .success(parsed): target = parsed
        case let .failure(rejection): warnings.append(ConfigWarning(parameter: parameter, value: value, reason: rejection.reason))
        }
    }

    mutating func warn(_ parameter: String, _ value: String, _ reason: String) {
        warnings.append(ConfigWarning(parameter: parameter, value: value, reason: reason))
    }
}

/// Why a value was rejected.
struct Rejection: Error, ExpressibleByStringInterpolation {
    let reason: String

    init(reason: String) { self.reason = reason }
    init(stringLiteral value: String) { reason = value }
}

/// A parsed value or why it was rejected.
typealias Parsed<T> = Result<T, Rejection>
