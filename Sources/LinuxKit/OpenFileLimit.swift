#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Glibc
import Synchronization

/// The agent's own RLIMIT_NOFILE.
///
/// The agent holds descriptors for every container's stdio, every exec and every connection;
/// as PID 1 it starts with the kernel's 1024, which about a thousand execs exhaust (upstream's
/// unit sets LimitNOFILE for the same reason). Processes started for containers keep the limit
/// the agent inherited, as runc's children keep runc's, unless their spec sets one.
public enum OpenFileLimit {
    private static let inheritedLimit = Mutex<(soft: UInt64, hard: UInt64)?>(nil)

    /// Raises the soft and hard limits to fs.nr_open (the kernel's ceiling), or the soft one to
    /// the hard one when raising the hard limit is not permitted. Returns the limits before and
    /// after, or nil when the current limit cannot be read.
    @discardableResult
    public static func raise(nrOpenPath: String = "/proc/sys/fs/nr_open") -> (before: rlimit, after: rlimit)? {
        var current = rlimit()
        guard getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &current) == 0 else { return nil }
        inheritedLimit.withLock { saved in
            if saved == nil { saved = (UInt64(current.rlim_cur), UInt64(current.rlim_max)) }
        }
        let text = (try? WholeFile.text(nrOpenPath)) ?? ""
        let ceiling = UInt64(text.trimmingWhitespace()).flatMap { rlim_t(exactly: $0) } ?? current.rlim_max
        var wanted = rlimit(rlim_cur: max(ceiling, current.rlim_cur), rlim_max: max(ceiling, current.rlim_max))
        if setrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &wanted) != 0 {
            // Without CAP_SYS_RESOURCE only the soft limit can move, up to the hard one.
            wanted = rlimit(rlim_cur: current.rlim_max, rlim_max: current.rlim_max)
            guard setrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &wanted) == 0 else { return (current, current) }
        }
        return (current, wanted)
    }

    /// The limit the agent started with, for processes it starts for containers; nil when the
    /// agent never raised its own (then children inherit the same limit anyway).
    public static var inherited: (soft: UInt64, hard: UInt64)? {
        inheritedLimit.withLock { $0 }
    }
}
