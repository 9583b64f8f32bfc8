#if canImport(Glibc)
import Glibc
#endif

/// Why a seccomp profile was refused or could not be loaded; names the offending entry.
public enum SeccompError: Error, Equatable, CustomStringConvertible {
    /// The profile is malformed; `entry` says where (e.g. "syscalls[3] (open, openat)").
    case invalid(entry: String, reason: String)
    /// Valid per the spec but not supported here (e.g. SCMP_ACT_NOTIFY).
    case unsupported(entry: String, reason: String)
    /// libseccomp refused an operation; `code` is its negative errno.
    case library(operation: String, code: Int32)

    public var description: String {
        switch self {
        case let .invalid(entry, reason): return "invalid seccomp profile: \(entry): \(reason)"
        case let .unsupported(entry, reason): return "unsupported seccomp profile: \(entry): \(reason)"
        case let .library(operation, code):
            return "libseccomp \(operation) failed: \(String(cString: strerror(-code))) (\(code))"
        }
    }
}
