import Glibc
import LinuxKit

extension Container {
    /// Removes the container: kills what still runs (waiting up to `timeout`, nil = forever),
    /// removes its cgroup, releases every descriptor, forgets it.
    public func delete(timeout: Duration? = nil) async throws {
        let (initProcess, execs, wasPaused) = state.withLock { state in
            (state.initProcess, Array(state.execs.values), state.status == .paused)
        }
        if wasPaused, let cgroup {
            // A frozen task cannot die: thaw first.
            try? cgroup.thaw()
        }
        for process in execs + [initProcess].compactMap({ $0 }) where process.exited == nil {
            try? engine.reaper.signal(process.pid, SIGKILL)
        }
        let all = execs + [initProcess].compactMap { $0 }
        let finished = await Self.waitAll(all, timeout: timeout)
        guard finished else {
            throw fail("delete", EngineError(.timeout, "delete", container: id, "processes did not exit within \(timeout.map { "\($0)" } ?? "-")"))
        }
        if let cgroup {
            do {
                try cgroup.destroy(timeout: .seconds(10))
            } catch {
                throw fail("delete", EngineError(.system, "remove cgroup", container: id, "\(error)"))
            }
        }
        let socket: SyncSocket? = state.withLock { state in
            defer { state.initSocket = nil; state.status = .stopped }
            return state.initSocket
        }
        if let socket { close(socket.fd) }
        for process in all {
            // Nobody can read a removed container's output: free it and its descriptors now.
            process.stdio.discardOutput()
            engine.reaper.forget(process.pid)
        }
        engine.unregister(id)
        await runHooksLoggingFailures(.poststop, status: "stopped")
        logger.info("container deleted")
    }

    static func waitAll(_ processes: [ContainerProcess], timeout: Duration?) async -> Bool {
        await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                for process in processes { _ = await process.wait() }
                return true
            }
            if let timeout {
                group.addTask {
                    try? await Task.sleep(for: timeout)
                    return false
                }
            }
            let first = await group.next() ?? false
            group.cancelAll()
            return first
        }
    }
}
