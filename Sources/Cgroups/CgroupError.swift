#if canImport(Glibc)
import Glibc
#endif

/// A failed cgroup operation, with what was attempted, where, and the errno when there is one.
public enum CgroupError: Error, Equatable, CustomStringConvertible {
    /// A system call on a cgroup file or directory failed.
    case io(operation: String, path: String, errno: Int32)
    /// A resource value cannot be expressed on this hierarchy (e.g. a bad device rule).
    case invalidResource(String)
    /// The requested feature is not available on this kernel or hierarchy.
    case unsupported(String)
    /// The cgroups path is malformed (NUL byte, escapes the hierarchy).
    case invalidPath(String)
    /// Waiting for a state (frozen, empty) did not finish before the deadline.
    case timeout(String)

    public var description: String {
        switch self {
        case let .io(operation, path, errno):
            return "cgroup \(operation) \(path): \(String(cString: strerror(errno))) (errno \(errno))"
        case let .invalidResource(message):
            return "invalid cgroup resource: \(message)"
        case let .unsupported(message):
            return "unsupported cgroup feature: \(message)"
        case let .invalidPath(message):
            return "invalid cgroups path: \(message)"
        case let .timeout(message):
            return "cgroup timeout: \(message)"
        }
    }
}
