#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Glibc
import LinuxKit
import OCISpec

extension Container {
    /// Runs another process inside the running container (its namespaces, cgroup and the
    /// spec's security settings), as `runc exec` does. Returns once it exec'd.
    @discardableResult
    public func exec(execID: String, process requested: OCISpec.Process) async throws -> ContainerProcess {
        guard !execID.isEmpty else { throw EngineError(.invalidSpec, "exec", container: id, "exec_id is empty") }
        // An exec without capabilities (the Kata runtime sends none, kubectl exec and probes
        // included) gets the container's, as upstream's agent gives it: the full set it would
        // otherwise keep is the agent's, module loading and raw I/O among them.
        var process = requested
        if process.capabilities == nil { process.capabilities = spec.process?.capabilities }
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
        let pinned: PinnedNamespaces
        do {
            pinned = try PinnedNamespaces(of: initPid)
        } catch {
            stdio.release()
            stdio.processExited()
            throw EngineError(.wrongState, "exec \(execID)", container: id, "the init process \(initPid) is gone: \(error)")
        }
        defer { pinned.close() }
        // The reaper collects our init, so until it has, the pid cannot have been reused: the
        // namespaces pinned above are the container's, and the exec joins those descriptors,
        // not /proc/<pid> paths that a reused pid could point elsewhere by then.
        guard state.withLock({ $0.initProcess?.exited == nil }) else {
            stdio.release()
            stdio.processExited()
            throw EngineError(.wrongState, "exec \(execID)", container: id, "the init process exited")
        }
        let config = InitConfig(mode: .exec, containerID: id, process: process, spec: spec, joinNamespaces: pinned.join)
        let request = InitLauncher.Request(config: config, cloneFlags: 0, pidNamespacePath: pinned.pidPath, cgroup: cgroup)
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

    static func differs(_ type: String, _ pid: pid_t) throws(SyscallError) -> Bool {
        guard let name = NamespaceType.procName(type) else { return false }
        var mine = stat()
        var theirs = stat()
        guard stat("/proc/self/ns/\(name)", &mine) == 0 else { throw SyscallError("stat", target: "/proc/self/ns/\(name)", errno: errno) }
        guard stat("/proc/\(pid)/ns/\(name)", &theirs) == 0 else {
            throw SyscallError("stat", target: "/proc/\(pid)/ns/\(name)", errno: errno)
        }
        return mine.st_ino != theirs.st_ino || mine.st_dev != theirs.st_dev
    }

    /// Drops an exec's record once it is finished with: exited, its status delivered by
    /// WaitProcess, and its output read to the end (the Go runtime waits only after reading
    /// EOF; a client that waits first still reads afterwards). Called after each of those
    /// events; the last one frees it, so execs do not pile up until RemoveContainer.
    public func releaseExecIfDone(_ execID: String) {
        let removed: ContainerProcess? = state.withLock { state in
            guard let process = state.execs[execID], process.exited != nil, process.waitDelivered.withLock({ $0 }),
                process.stdio.stdout.reachedEOF, process.stdio.terminal || process.stdio.stderr.reachedEOF
            else { return nil }
            return state.execs.removeValue(forKey: execID)
        }
        if let removed {
            removed.stdio.release()
            engine.reaper.forget(removed.pid)
        }
    }
}
