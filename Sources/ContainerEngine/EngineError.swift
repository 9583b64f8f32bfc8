import Glibc

/// A failure of a container operation: what was attempted, on which container, and why.
public struct EngineError: Error, Sendable, Equatable, CustomStringConvertible {
    /// How callers (the gRPC layer) should classify the failure.
    public enum Kind: String, Sendable, Equatable {
        /// The spec or request is wrong (INVALID_ARGUMENT).
        case invalidSpec
        /// No such container or process (NOT_FOUND).
        case notFound
        /// The id is taken (ALREADY_EXISTS).
        case alreadyExists
        /// The container is in the wrong state for the operation (FAILED_PRECONDITION).
        case wrongState
        /// A feature the spec asks for is not available in this build (UNIMPLEMENTED).
        case unsupported
        /// Waited too long (DEADLINE_EXCEEDED).
        case timeout
        /// A system call or the container init failed (INTERNAL).
        case system
    }

    public let kind: Kind
    public let operation: String
    public let containerID: String
    public let message: String
    public let errno: Int32

    public init(_ kind: Kind, _ operation: String, container containerID: String, _ message: String, errno: Int32 = 0) {
        self.kind = kind
        self.operation = operation
        self.containerID = containerID
        self.message = message
        self.errno = errno
    }

    public var description: String {
        var text = "\(operation) container \(containerID): \(message)"
        if errno != 0 {
            // Messages relayed from container init already name the errno's text.
            let reason = String(cString: strerror(errno))
            text += message.hasSuffix(reason) ? " (errno \(errno))" : ": \(reason) (errno \(errno))"
        }
        return text
    }

    static func sys(_ operation: String, _ id: String, _ what: String, _ code: Int32) -> EngineError {
        EngineError(.system, operation, container: id, what, errno: code)
    }
}
