import Cgroups
import Glibc
import LinuxKit

extension Container {
    /// Sends `signal` to the init (exec id "") or an exec'd process. A process that already
    /// exited is not an error (the runtime often kills what just ended).
    public func kill(execID: String = "", signal: Int32) throws {
        try Self.checkSignal(signal, container: id)
        let target = try process(execID)
        do {
            try engine.reaper.signal(target.pid, signal)
        } catch ReaperError.notRunning {
            logger.debug("signal to an exited process ignored", metadata: ["exec": "\(execID)", "signal": "\(signal)"])
        } catch {
            throw fail("signal", EngineError(.system, "signal \(signal)", container: id, "\(error)"))
        }
    }

    /// Sends `signal` to every process in the container's cgroup, as `runc kill --all` does:
    /// the init's death ends the others only when it is the init of a pid namespace of its
    /// own, and a container joining the pod's shares the pause's. The cgroup is frozen
    /// meanwhile, so nothing forks past the list. Without a cgroup the init alone is signalled.
    public func killAll(signal: Int32) throws {
        try Self.checkSignal(signal, container: id)
        guard let cgroup else { return try kill(signal: signal) }
        // The usual case after the init exited (the runtime stops what just ended): no freeze.
        guard try !processes(of: cgroup, signal: signal).isEmpty else { return }
        var frozen = true
        do {
            try cgroup.freeze(timeout: .seconds(10))
        } catch {
            // As upstream: signal them anyway (a process may fork past the list).
            frozen = false
            logger.warning("freezing the cgroup to signal every process failed", metadata: ["error": "\(error)"])
        }
        defer {
            if frozen {
                do { try cgroup.thaw() } catch {
                    logger.error("thawing the cgroup after signalling every process failed", metadata: ["error": "\(error)"])
                }
            }
        }
        for pid in try processes(of: cgroup, signal: signal) {
            guard Glibc.kill(pid, signal) != 0 else { continue }
            let code = errno
            if code != ESRCH {
                logger.warning("signal to a process of the container failed", metadata: ["pid": "\(pid)", "signal": "\(signal)", "errno": "\(code)"])
            }
        }
    }

    /// Whether the process of `execID` blocks, ignores or catches `signal`; false when it is
    /// gone or has the default action.
    public func handles(_ signal: Int32, execID: String = "") throws -> Bool {
        let target = try process(execID)
        return SignalDispositions.of(pid: target.pid)?.handles(signal) ?? false
    }

    private func processes(of cgroup: CgroupManager, signal: Int32) throws -> [Int32] {
        do {
            return try cgroup.processes()
        } catch {
            throw fail("signal", EngineError(.system, "signal \(signal) to every process", container: id, "\(error)"))
        }
    }

    private static func checkSignal(_ signal: Int32, container id: String) throws {
        guard signal > 0 && signal < 65 else {
            throw EngineError(.invalidSpec, "signal", container: id, "signal \(signal) is out of range")
        }
    }

    /// Waits for a process's exit status.
    public func wait(execID: String = "") async throws -> Int32 {
        let process = try process(execID)
        let status = await process.wait()
        if !execID.isEmpty {
            process.waitDelivered.withLock { $0 = true }
            releaseExecIfDone(execID)
        }
        return status
    }
}
