import Glibc

/// A failed system call (agent core, console, vsock, pty, serial): the operation, what it acted
/// on, the errno.
public struct SyscallError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What was attempted, e.g. "mount proc".
    public let operation: String
    /// The path, pid, name or "vsock CID:PORT" acted on.
    public let target: String
    /// The errno, or 0 when the failure is not a syscall's.
    public let errno: Int32
    /// Extra explanation for the reader (why it may have failed, what to try).
    public let detail: String

    public init(_ operation: String, target: String, errno: Int32, detail: String = "") {
        self.operation = operation
        self.target = target
        self.errno = errno
        self.detail = detail
    }

    public var description: String {
        var text = "\(operation) \(target) failed"
        if errno != 0 {
            text += ": \(String(cString: strerror(errno))) (errno \(errno))"
        }
        if !detail.isEmpty {
            text += "; \(detail)"
        }
        return text
    }

    /// Turns a shim's `-errno` return into a thrown error, passing non-negative values through.
    @discardableResult
    static func check(_ result: Int32, _ operation: String, target: String, detail: String = "") throws(SyscallError) -> Int32 {
        if result < 0 {
            throw SyscallError(operation, target: target, errno: -result, detail: detail)
        }
        return result
    }

    /// Captures the current errno after a libc call that returned -1.
    static func last(_ operation: String, target: String) -> SyscallError {
        SyscallError(operation, target: target, errno: Glibc.errno)
    }
}
