#if canImport(Glibc)
import Glibc
#endif
import AgentWire
import GRPCCore
import Logging
import Sandbox

extension RPCError {
    /// UNIMPLEMENTED naming the RPC, for RPCs not built yet (never a fake success).
    static func unimplementedRPC(_ name: String) -> RPCError {
        RPCError(code: .unimplemented, message: "\(name) is not implemented by this agent yet")
    }

    /// INVALID_ARGUMENT "<field>: <reason>".
    init(_ validation: ValidationError) {
        self.init(code: .invalidArgument, message: validation.description)
    }

    /// Classifies a domain error; the message keeps the operation, path and errno.
    init(_ guest: GuestOperationError) {
        switch guest.kind {
        case .invalidArgument(let field):
            self.init(code: .invalidArgument, message: "\(field): \(guest.description)")
        case .unsupported:
            self.init(code: .failedPrecondition, message: guest.description)
        case .system:
            let code: RPCError.Code
            switch guest.errno {
            case .some(EPERM), .some(EACCES): code = .permissionDenied
            case .some(ENOENT): code = .notFound
            default: code = .internalError
            }
            self.init(code: code, message: guest.description)
        }
    }
}

extension RPCError {
    /// Classifies a Sandbox domain error; its message already names the field, module or driver.
    init(_ sandbox: SandboxError) {
        let code: RPCError.Code
        switch sandbox.kind {
        case .invalidArgument: code = .invalidArgument
        case .failedPrecondition: code = .failedPrecondition
        case .unimplemented: code = .unimplemented
        case .system: code = sandbox.errno == EPERM || sandbox.errno == EACCES ? .permissionDenied : .internalError
        }
        self.init(code: code, message: sandbox.message)
    }
}

/// Runs one RPC's body: logs it, turns known errors into statuses and anything else into
/// INTERNAL with its description, so no request error escapes as a crash or an opaque failure.
/// Every RPC group wraps its handlers in this.
///
/// `inline` is for bodies that never block in a syscall (a stdio read that takes buffered bytes
/// or waits on a continuation): they stay on the connection's event loop instead of hopping to
/// the global executor and back, two thread wake-ups that were most of a 32 KiB ReadStdout.
func serveRPC<Response: Sendable>(
    _ name: String, logger: Logger, inline: Bool = false, _ body: () async throws -> Response
) async throws -> Response {
    do {
        return try await mapErrors(name, logger: logger, inline: inline, body)
    } catch let error as RPCError {
        throw error.withBoundedMessage()
    }
}

extension RPCError {
    /// The longest status message sent, in UTF-8 bytes. Messages quote request values (a
    /// 70 KB gateway string, found by the RPC fuzzer); over gRPC the message travels as the
    /// percent-encoded grpc-message trailer, and a client refuses trailers past its metadata
    /// limit (grpcio: 8 KiB), so the same request answered INVALID_ARGUMENT over ttrpc arrived
    /// as RESOURCE_EXHAUSTED over gRPC. 2 KiB stays under that even when every byte is encoded.
    static let maximumMessageBytes = 2048

    /// This error with its message cut to `maximumMessageBytes` at a character boundary, saying
    /// how much was left out; the same on every transport.
    func withBoundedMessage() -> RPCError {
        let utf8 = message.utf8
        guard utf8.count > Self.maximumMessageBytes else { return self }
        let suffixReserve = 40
        var end = utf8.index(utf8.startIndex, offsetBy: Self.maximumMessageBytes - suffixReserve)
        // Back off to the start of a character: never a partial UTF-8 sequence.
        while end > utf8.startIndex && UTF8.isContinuation(utf8[end]) { end = utf8.index(before: end) }
        let kept = String(message[..<end])
        let omitted = utf8.count - kept.utf8.count
        return RPCError(code: code, message: kept + "... (\(omitted) more bytes)")
    }
}

/// serveRPC's body: runs the handler and maps what it throws (see serveRPC).
private func mapErrors<Response: Sendable>(
    _ name: String, logger: Logger, inline: Bool, _ body: () async throws -> Response
) async throws -> Response {
    let logger = rpcLogger(logger)
    logger.debug("rpc", metadata: ["rpc": "\(name)"])
    do {
        // Domain code may block in syscalls: it runs on the global executor, never on the
        // event loop the server's own tasks prefer (EventLoopAffineExecutor).
        if inline { return try await body() }
        return try await withTaskExecutorPreference(globalConcurrentExecutor) { try await body() }
    } catch {
        throw mapped(error, rpc: name, logger: logger)
    }
}

/// Runs an RPC body that answers without waiting, on the connection's event loop (the ttrpc
/// codec's immediate path): nil when it would have to wait, and the call then takes the
/// ordinary path. Logged and mapped exactly as `serveRPC` does.
func serveRPCNow<Response>(_ name: String, logger: Logger, _ body: () throws -> Response?) throws -> Response? {
    let logger = rpcLogger(logger)
    do {
        // Logged once it answers: a call that must wait is logged by the path that serves it.
        guard let response = try body() else { return nil }
        logger.debug("rpc", metadata: ["rpc": "\(name)"])
        return response
    } catch {
        logger.debug("rpc", metadata: ["rpc": "\(name)"])
        throw mapped(error, rpc: name, logger: logger).withBoundedMessage()
    }
}

/// The RPC's logger, carrying the caller's W3C trace context (ttrpc metadata) so its spans can
/// be matched to these lines.
private func rpcLogger(_ logger: Logger) -> Logger {
    var logger = logger
    if let traceparent = WireTraceContext.traceparent { logger[metadataKey: "traceparent"] = "\(traceparent)" }
    return logger
}

/// What an RPC body threw, logged and classified as the status the caller gets.
private func mapped(_ error: any Error, rpc name: String, logger: Logger) -> RPCError {
    switch error {
    case let error as RPCError:
        logger.info("rpc failed", metadata: ["rpc": "\(name)", "code": "\(error.code)", "error": "\(error.message)"])
        return error
    case let error as ValidationError:
        logger.info("rpc rejected", metadata: ["rpc": "\(name)", "field": "\(error.field)", "error": "\(error.reason)"])
        return RPCError(error)
    case let error as GuestOperationError:
        if case .invalidArgument = error.kind {
            logger.info("rpc rejected", metadata: ["rpc": "\(name)", "error": "\(error)"])
        } else {
            logger.warning("rpc failed", metadata: ["rpc": "\(name)", "error": "\(error)"])
        }
        return RPCError(error)
    case let error as SandboxError:
        logger.warning("rpc failed", metadata: ["rpc": "\(name)", "error": "\(error)"])
        return RPCError(error)
    case let error as any RPCErrorConvertible:
        let converted = RPCError(error)
        logger.warning("rpc failed", metadata: ["rpc": "\(name)", "code": "\(converted.code)", "error": "\(converted.message)"])
        return converted
    case is CancellationError:
        // The caller left, its deadline passed or the server is stopping: not the agent's
        // failure (it used to be answered INTERNAL, found by the RPC fuzzer over gRPC).
        logger.debug("rpc cancelled", metadata: ["rpc": "\(name)"])
        return RPCError(code: .cancelled, message: "\(name): cancelled (the caller left or its deadline passed)")
    default:
        logger.warning("rpc failed", metadata: ["rpc": "\(name)", "error": "\(error)"])
        return RPCError(code: .internalError, message: "\(name): \(error)")
    }
}
