#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A failed console, vsock, pty or serial operation: what was attempted, on what, the errno.
public struct ConsoleError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The operation, e.g. "bind vsock listener".
    public let operation: String
    /// The object it acted on: a path, "vsock CID:PORT", a pid.
    public let target: String
    /// The errno, or 0 when the failure is not a syscall's.
    public let errno: Int32
    /// Extra explanation for the reader (why it may have failed, what to try).
    public let hint: String

    public init(_ operation: String, target: String, errno: Int32, hint: String = "") {
        self.operation = operation
        self.target = target
        self.errno = errno
        self.hint = hint
    }

    public var description: String {
        var text = "\(operation) \(target) failed"
        if errno != 0 {
            text += ": \(String(cString: strerror(errno))) (errno \(errno))"
        }
        if !hint.isEmpty {
            text += "; \(hint)"
        }
        return text
    }

    /// Turns a shim's `-errno` return into a thrown error, passing non-negative values through.
    static func check(_ result: Int32, _ operation: String, target: String, hint: String = "") throws(ConsoleError) -> Int32 {
        if result < 0 {
            throw ConsoleError(operation, target: target, errno: -result, hint: hint)
        }
        return result
    }
}
