import LinuxKit

/// A sandbox-level request that failed; `kind` lets the server pick the gRPC status.
public struct SandboxError: Error, Sendable, Equatable, CustomStringConvertible {
    /// How the server should classify the failure.
    public enum Kind: Sendable, Equatable {
        /// The request is malformed (INVALID_ARGUMENT).
        case invalidArgument
        /// The sandbox is not in a state for this request (FAILED_PRECONDITION).
        case failedPrecondition
        /// Valid but not supported by this agent (UNIMPLEMENTED).
        case unimplemented
        /// The system call or kernel refused (INTERNAL).
        case system
    }

    public let kind: Kind
    public let message: String
    /// errno of the underlying failure, 0 if none.
    public let errno: Int32

    public init(_ kind: Kind, _ message: String, errno: Int32 = 0) {
        self.kind = kind
        self.message = message
        self.errno = errno
    }

    public var description: String { message }

    static func system(_ context: String, _ error: SyscallError) -> SandboxError {
        SandboxError(.system, "\(context): \(error)", errno: error.errno)
    }
}
