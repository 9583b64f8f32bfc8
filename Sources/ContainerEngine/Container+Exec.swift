#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Glibc
import OCISpec

extension Container {
    /// Runs another process inside the running container (its namespaces, cgroup and the
    /// spec's security settings), as `runc exec` does. Returns once it exec'd.
    @discardableResult
    public func exec(execID: String, process: OCISpec.Process) async throws -> ContainerProcess {
        guard !execID.isEmpty else { throw EngineError(.invalidSpec, "exec", container: id, "exec_id is empty") }
        try SpecValidation.validateProcess(process, id: id, operation: "exec")
        let initPid: pid_t? = state.withLock { state in
            guard state.status == .running || state.status == .created, state.execs[execID] == nil else { return nil }
            return state.initProcess?.pid
        }
        guard let initPid else {
            if state.withLock({ $0.execs[execID] != nil }) {
                throw EngineError(.alreadyExists, "exec", container: id, "exec id \(execID) is in use")
            }
            throw EngineError(.wrongState, "exec", container: id, "container is \(status.rawValue)")
        }
        try InitSecurityCheck.validateProcess(process, id: id)
        let stdio = try ProcessStdio(
            terminal: process.terminal ?? false, pipeSize: engine.options.pipeSize,
            rows: UInt16(clamping: process.consoleSize?.height ?? 0), cols: UInt16(clamping: process.consoleSize?.width ?? 0))
        let join = Self.namespacesToJoin(of: initPid)
        let pidPath = Self.differs("pid", initPid) ? "/proc/\(initPid)/ns/pid" : nil
        let config = InitConfig(mode: .exec, containerID: id, process: process, spec: spec, joinNamespaces: join)
        let request = InitLauncher.Request(config: config, cloneFlags: 0, pidNamespacePath: pidPath, cgroup: cgroup)
        let launched: InitLauncher.Launched
        do {
            launched = try await InitLauncher(engine: engine).launch(request, stdio: stdio)
        } catch {
            stdio.release()
            stdio.processExited()
            throw fail("exec \(execID)", error)
        }
        close(launched.socket.fd)
        let logger = self.logger
        let child = ContainerProcess(execID: execID, pid: launched.pid, stdio: stdio, reaper: engine.reaper) { code in
            logger.info("exec process exited", metadata: ["exec": "\(execID)", "status": "\(code)"])
        }
        state.withLock { $0.execs[execID] = child }
        logger.info("exec process started", metadata: ["exec": "\(execID)", "pid": "\(launched.pid)"])
        return child
    }

    /// The init's namespaces that differ from the agent's, user first.
    static func namespacesToJoin(of pid: pid_t) -> [LinuxNamespace] {
        ["user", "ipc", "uts", "network", "cgroup", "mount"].compactMap { type in
            differs(type, pid) ? LinuxNamespace(type: type, path: "/proc/\(pid)/ns/\(NamespaceType.procName(type) ?? type)") : nil
        }
    }

    static func differs(_ type: String, _ pid: pid_t) -> Bool {
        guard let name = NamespaceType.procName(type) else { return false }
        var mine = stat()
        var theirs = stat()
        guard stat("/proc/self/ns/\(name)", &mine) == 0, stat("/proc/\(pid)/ns/\(name)", &theirs) == 0 else { return false }
        return mine.st_ino != theirs.st_ino || mine.st_dev != theirs.st_dev
    }

    /// Drops an exited exec process's record (after WaitProcess delivered its status).
    public func forgetExec(_ execID: String) {
        let removed = state.withLock { $0.execs.removeValue(forKey: execID) }
        if let removed, removed.exited != nil {
            removed.stdio.release()
            engine.reaper.forget(removed.pid)
        }
    }
}
