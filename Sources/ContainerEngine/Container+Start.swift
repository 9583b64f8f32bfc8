import Foundation
import Glibc

extension Container {
    /// Lets the waiting init exec the workload. Returns once the exec happened (the init's
    /// CLOEXEC socket closed) or throws the init's exec error.
    public func start() async throws {
        let socket: SyncSocket? = state.withLock { state in
            guard state.status == .created, let socket = state.initSocket else { return nil }
            state.initSocket = nil
            return socket
        }
        guard let socket else {
            throw fail("start", EngineError(.wrongState, "start", container: id, "container is \(status.rawValue), not created"))
        }
        do {
            // runc runs these inside the container just before the exec; here from the agent.
            try await runHooks(.startContainer, status: "created")
        } catch {
            // The init still waits: the container stays created, start may be retried.
            state.withLock { $0.initSocket = socket }
            throw fail("start", error)
        }
        defer { close(socket.fd) }
        let id = self.id
        let answer: SyncMessage? = try await Blocking.run { () throws -> SyncMessage? in
            do {
                try socket.send(SyncMessage(kind: .start))
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
