#if canImport(Glibc)
import Glibc
#endif

/// Filesystem roots the guest-level operations act on; tests point them at temporary directories.
public struct GuestRoots: Sendable, Equatable {
    /// Where sysfs is mounted (`/sys`).
    public var sysfs: String
    /// Where procfs is mounted (`/proc`).
    public var procfs: String
    /// The only tree CopyFile may write into (`/run`).
    public var run: String
    /// The kernel's random device (`/dev/random`).
    public var randomDevice: String

    public init(sysfs: String = "/sys", procfs: String = "/proc", run: String = "/run", randomDevice: String = "/dev/random") {
        self.sysfs = sysfs
        self.procfs = procfs
        self.run = run
        self.randomDevice = randomDevice
    }

    /// The real machine's roots.
    public static let system = GuestRoots()

    var memoryDirectory: String { sysfs + "/devices/system/memory" }
    var memoryBlockSizeFile: String { memoryDirectory + "/block_size_bytes" }
    var memoryProbeFile: String { memoryDirectory + "/probe" }
    var cpuDirectory: String { sysfs + "/devices/system/cpu" }
    var cpuOnlineFile: String { cpuDirectory + "/online" }
}

/// A failed guest-level operation: what was attempted, on which path, and why (errno when the kernel said no).
public struct GuestOperationError: Error, Sendable, Equatable, CustomStringConvertible {
    /// How the RPC layer should classify the failure.
    public enum Kind: Sendable, Equatable {
        /// The request itself is wrong; `field` names the request field at fault.
        case invalidArgument(field: String)
        /// The guest lacks what the operation needs (e.g. no memory probe interface).
        case unsupported
        /// The kernel or filesystem refused.
        case system
    }

    public let kind: Kind
    public let operation: String
    public let path: String?
    public let errno: Int32?
    public let reason: String

    public init(_ kind: Kind, operation: String, path: String? = nil, errno: Int32? = nil, reason: String) {
        self.kind = kind
        self.operation = operation
        self.path = path
        self.errno = errno
        self.reason = reason
    }

    /// A system error from the current `errno`.
    static func posix(_ operation: String, path: String?, _ code: Int32 = Glibc.errno) -> GuestOperationError {
        GuestOperationError(.system, operation: operation, path: path, errno: code, reason: String(cString: strerror(code)))
    }

    public var description: String {
        var text = operation
        if let path { text += " \(path)" }
        text += ": \(reason)"
        if let errno { text += " (errno \(errno))" }
        return text
    }
}
