import ContainerEngine
import GRPCCore
import Sandbox

// Engine failures keep their message (operation, container id, errno) and get the status
// that tells the runtime whose fault it was.
extension EngineError: RPCErrorConvertible {
    public var rpcErrorCode: RPCError.Code {
        switch kind {
        case .invalidSpec: return .invalidArgument
        case .notFound: return .notFound
        case .alreadyExists: return .alreadyExists
        case .wrongState: return .failedPrecondition
        case .unsupported: return .unimplemented
        case .timeout: return .deadlineExceeded
        case .system: return .internalError
        }
    }

    public var rpcErrorMessage: String { description }
}
