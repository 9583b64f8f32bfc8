import GRPCCore

/// Why kata-agent-ctl stops; each case prints as one line on stderr.
enum CtlError: Error, CustomStringConvertible {
    /// The command line or a request is wrong; nothing was sent for it.
    case usage(String)
    /// The server address cannot be reached.
    case connection(String)
    /// The RPC reached the agent (or the transport) and failed with a gRPC status.
    case rpc(name: String, code: RPCError.Code, message: String)

    var description: String {
        switch self {
        case let .usage(message), let .connection(message):
            return message
        case let .rpc(name, code, message):
            return "\(name) failed: \(StatusName.of(code)): \(message)"
        }
    }

    /// Exit status: 2 for usage errors (nothing was attempted), 1 otherwise.
    var exitStatus: Int32 {
        if case .usage = self { return 2 }
        return 1
    }
}

/// Canonical gRPC status names (as in grpc's statuscodes.md and Go's codes.Code).
enum StatusName {
    private static let names = [
        "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
        "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
        "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS",
        "UNAUTHENTICATED",
    ]

    static func of(_ code: RPCError.Code) -> String {
        names.indices.contains(code.rawValue) ? names[code.rawValue] : "CODE_\(code.rawValue)"
    }
}
