import Glibc
import LinuxKit
import Synchronization

/// One process of a container: its init (exec id "") or an exec'd process.
public final class ContainerProcess: Sendable {
    public let execID: String
    public let pid: pid_t
    public let stdio: ProcessStdio
    /// Resolves with the exit status (code, or 128 + signal) once the reaper collected it.
    let exit: Task<Int32, Never>
    let exitStatus = ExitRecord()

    init(execID: String, pid: pid_t, stdio: ProcessStdio, reaper: Reaper, onExit: @escaping @Sendable (Int32) -> Void = { _ in }) {
        self.execID = execID
        self.pid = pid
        self.stdio = stdio
        let status = exitStatus
        exit = Task {
            let code = (try? await reaper.wait(pid)) ?? 255
            status.value.withLock { $0 = code }
            stdio.processExited()
            // Nothing reads stdin any more: free its descriptor now, not at RemoveContainer
            // (a thousand execs would otherwise exhaust the agent's descriptors).
            stdio.release()
            onExit(code)
            return code
        }
    }

    /// Waits for the exit status.
    public func wait() async -> Int32 {
        await exit.value
    }

    /// WaitProcess delivered the exit status (an exec's record may then go once its output is read).
    let waitDelivered = Mutex<Bool>(false)

    /// The exit status, or nil while it runs.
    public var exited: Int32? { exitStatus.value.withLock { $0 } }
}

/// Shared holder of an exit status (Mutex itself cannot be captured by a task).
final class ExitRecord: Sendable {
    let value = Mutex<Int32?>(nil)
}
