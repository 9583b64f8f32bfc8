import CLinuxShim
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Glibc
import OCISpec

extension Container {
    /// Lets the waiting init exec the workload. Returns once the exec happened (the init's
    /// CLOEXEC socket closed) or throws the init's error: a failed exec or startContainer hook,
    /// after which the init has exited and the container is stopped (delete removes the rest).
    public func start() async throws {
        let socket: SyncSocket? = state.withLock { state in
            guard state.status == .created, let socket = state.initSocket else { return nil }
            state.initSocket = nil
            return socket
        }
        guard let socket else {
            throw fail("start", EngineError(.wrongState, "start", container: id, "container is \(status.rawValue), not created"))
        }
        defer { close(socket.fd) }
        let id = self.id
        // The init runs the startContainer hooks itself (ContainerInit), after the start signal
        // and before its exec, and answers only then: allow them their time.
        let budget = InitLauncher.budget(HookKind.startContainer.hooks(in: spec.hooks))
        let (timeout, overflow) = engine.options.initTimeoutMilliseconds.addingReportingOverflow(budget)
        _ = engine_set_recv_timeout(socket.fd, overflow ? Int32.max : timeout)
        let startState = hookState(status: "created", pid: pid)
        let answer: SyncMessage? = try await Blocking.run { () throws -> SyncMessage? in
            do {
                try socket.send(SyncMessage(kind: .start, state: startState))
                return try socket.receive()
            } catch SyncSocket.Failure.closed {
                return nil
            } catch let failure as SyncSocket.Failure {
                if case .io(let code) = failure, code == EPIPE {
                    throw EngineError(.wrongState, "start", container: id, "container init exited before start")
                }
                throw EngineError(.system, "start", container: id, "container init: \(failure)")
            }
        }
        if let answer {
            let error = EngineError(InitLauncher.kind(of: answer), "start", container: id,
                                    answer.message ?? "exec failed", errno: answer.errno ?? 0)
            throw fail("start", error)
        }
        state.withLock { state in
            if state.status == .created { state.status = .running }
        }
        logger.info("container started")
        await runHooksLoggingFailures(.poststart, status: "running")
    }
}
