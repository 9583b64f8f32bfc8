/// A hook that could not run, failed or timed out; always names the hook.
public enum HookError: Error, Equatable, CustomStringConvertible {
    /// The hook entry is malformed (relative path, bad timeout).
    case invalid(kind: HookKind, path: String, reason: String)
    /// It could not be started (errno from posix_spawn / exec).
    case spawn(kind: HookKind, path: String, errno: Int32)
    /// It exited non-zero (or 128 + signal); `output` is the tail of its stdout/stderr.
    case failed(kind: HookKind, path: String, status: Int32, output: String)
    /// It ran longer than its timeout and was killed.
    case timeout(kind: HookKind, path: String, seconds: Int)

    public var description: String {
        switch self {
        case let .invalid(kind, path, reason):
            return "\(kind.rawValue) hook \(path): \(reason)"
        case let .spawn(kind, path, errno):
            return "\(kind.rawValue) hook \(path) could not start (errno \(errno))"
        case let .failed(kind, path, status, output):
            return "\(kind.rawValue) hook \(path) failed with exit status \(status)" + (output.isEmpty ? "" : ": \(output)")
        case let .timeout(kind, path, seconds):
            return "\(kind.rawValue) hook \(path) timed out after \(seconds)s and was killed"
        }
    }
}
