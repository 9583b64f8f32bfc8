import CLinuxShim
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Dispatch
import Glibc
import Logging
import Synchronization

/// The one owner of `waitpid` in the process: reaps children and hands their exit statuses
/// (exit code, or 128 + signal) to any number of waiters.
///
/// Every child the agent starts must be spawned through `spawn(...)` (posix_spawn, see
/// Spawn.swift) or `spawn(_:)` (any other fork/exec, e.g. a C shim), which register the pid
/// under the reaper's lock, so a child that exits at once is never reaped before it is known.
///
/// Modes:
/// - `.all` (the agent, PID 1 or a service): a SIGCHLD handler wakes the reaper thread, which
///   reaps every child with `waitpid(-1, WNOHANG)`; pids nobody registered (orphans
///   re-parented to us as PID 1 or child subreaper) are reaped and logged. Only one `.all`
///   reaper may run in a process.
/// - `.registeredOnly` (inside XCTest, where Foundation.Process owns its own children): the
///   thread polls a pidfd per registered child and reaps only those pids.
///
/// Exit records stay until `forget(_:)` so late waiters still get the status; a pid that the
/// kernel reuses for a new registered child replaces its old record.
public final class Reaper: Sendable {
    /// Which children this reaper collects.
    public enum Mode: Sendable, Equatable {
        /// Every child, registered or not (the agent; required as PID 1).
        case all
        /// Only pids registered through `spawn`; safe alongside Foundation.Process.
        case registeredOnly
    }

    /// What the reaper knows about a pid.
    public enum ProcessState: Sendable, Equatable {
        /// Registered and not yet exited.
        case running
        /// Reaped, with its exit status (code, or 128 + signal).
        case exited(Int32)
        /// Never registered, or forgotten.
        case unknown
    }

    struct Record {
        var status: Int32?
        var waiters: [CheckedContinuation<Int32, any Error>] = []
        var pidfd: Int32 = -1
    }

    struct State {
        var records: [pid_t: Record] = [:]
        var stopping = false
        var stopped = false
    }

    /// The mode given at start.
    public let mode: Mode
    let logger: Logger
    let state = Mutex(State())
    /// Written to wake the reaper thread: by the SIGCHLD handler (`.all`), by registration
    /// (`.registeredOnly`, to poll the new pidfd) and by `shutdown()`.
    let wakeRead: Int32
    let wakeWrite: Int32
    let threadDone = DispatchSemaphore(value: 0)
    /// Whether init set PR_SET_CHILD_SUBREAPER (undone by `shutdown()`).
    let madeSubreaper: Bool

    /// Starts a reaper thread.
    ///
    /// - Parameters:
    ///   - mode: `.all` for the agent, `.registeredOnly` in tests.
    ///   - subreaper: set PR_SET_CHILD_SUBREAPER so orphaned descendants are re-parented to
    ///     this process (default: on in `.all`, off in `.registeredOnly`, where orphans would
    ///     become zombies nobody reaps).
    ///   - logger: where unknown pids and reaper errors are logged.
    public init(mode: Mode, subreaper: Bool? = nil, logger: Logger = Logger(label: "reaper")) throws(SyscallError) {
        self.mode = mode
        self.logger = logger
        var fds: [Int32] = [0, 0]
        try SyscallError.check(core_pipe2(&fds, O_CLOEXEC | O_NONBLOCK), "pipe2", target: "reaper wake pipe")
        wakeRead = fds[0]
        wakeWrite = fds[1]
        madeSubreaper = subreaper ?? (mode == .all)
        if madeSubreaper {
            do {
                try SyscallError.check(core_set_child_subreaper(1), "prctl PR_SET_CHILD_SUBREAPER", target: "self")
            } catch {
                close(wakeRead)
                close(wakeWrite)
                throw error
            }
        }
        if mode == .all {
            let rc = core_sigchld_install(wakeWrite)
            if rc < 0 {
                close(wakeRead)
                close(wakeWrite)
                throw SyscallError("install SIGCHLD handler", target: "reaper", errno: -rc,
                                   detail: rc == -EBUSY ? "another .all reaper is running in this process" : "")
            }
        }
        BackgroundThread.start(name: "kata-reaper") { [self] in
            self.run()
            self.threadDone.signal()
        }
        // Children that exited before the handler was installed sent their SIGCHLD to nobody.
        wake()
    }

    // MARK: registration

    /// Runs `body` (which must fork/exec or posix_spawn exactly one child and return its pid)
    /// under the reaper's lock and registers the pid before any reaping can see it.
    ///
    /// Use for children started by other means than `spawn(path:...)`, e.g. a C shim that
    /// needs setsid + TIOCSCTTY. `body` must be quick (it blocks reaping while it runs) and
    /// must not call back into the reaper. A returned pid <= 0 or a thrown error registers
    /// nothing and is passed on.
    public func spawn<E: Error>(_ body: () throws(E) -> pid_t) throws(E) -> pid_t {
        let pid: pid_t = try state.withLock { (state) throws(E) -> pid_t in
            let pid = try body()
            guard pid > 0 else { return pid }
            var record = Record()
            if mode == .registeredOnly {
                // Our unreaped child cannot be reused, so the pidfd is certain to be this child.
                let fd = core_pidfd_open(pid)
                if fd < 0 {
                    logger.error("pidfd_open failed; this child will not be reaped",
                                 metadata: ["pid": "\(pid)", "errno": "\(-fd)"])
                }
                record.pidfd = fd
            }
            if let old = state.records[pid], old.pidfd >= 0 {
                close(old.pidfd)
            }
            state.records[pid] = record
            return pid
        }
        if pid > 0, mode == .registeredOnly {
            wake()
        }
        return pid
    }

    // MARK: queries

    /// The exit status of `pid` (exit code, or 128 + signal), waiting until it exits.
    ///
    /// Any number of tasks may wait for the same pid; all get the status. Throws
    /// `ReaperError.unknownPid` for a pid that was never registered (or was forgotten).
    /// The wait is not cancellable: a child always ends eventually, or the caller kills it.
    public func wait(_ pid: pid_t) async throws -> Int32 {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Int32, any Error>) in
            enum Outcome { case done(Int32), unknown, pending }
            let outcome: Outcome = state.withLock { state in
                guard var record = state.records[pid] else { return .unknown }
                if let status = record.status { return .done(status) }
                record.waiters.append(continuation)
                state.records[pid] = record
                return .pending
            }
            switch outcome {
            case let .done(status): continuation.resume(returning: status)
            case .unknown: continuation.resume(throwing: ReaperError.unknownPid(pid))
            case .pending: break
            }
        }
    }

    /// What the reaper knows about `pid`, without blocking.
    public func status(_ pid: pid_t) -> ProcessState {
        state.withLock { state in
            guard let record = state.records[pid] else { return .unknown }
            if let status = record.status { return .exited(status) }
            return .running
        }
    }

    /// Drops the exit record of an exited pid (keeps memory bounded once its owner is done).
    /// A running pid is left alone: its waiters would never be answered.
    public func forget(_ pid: pid_t) {
        state.withLock { state in
            if state.records[pid]?.status != nil {
                state.records[pid] = nil
            }
        }
    }

    /// Sends `signal` to `pid` (or its process group) only while the reaper holds it as
    /// running: reaping happens under the same lock, so the pid cannot have been reused.
    /// Throws `ReaperError.notRunning` when it already exited or is unknown.
    public func signal(_ pid: pid_t, _ signal: Int32, processGroup: Bool = false) throws {
        try state.withLock { state in
            guard let record = state.records[pid], record.status == nil else {
                throw ReaperError.notRunning(pid)
            }
            if kill(processGroup ? -pid : pid, signal) != 0 {
                throw SyscallError.last("kill signal \(signal)", target: processGroup ? "process group \(pid)" : "pid \(pid)")
            }
        }
    }

    /// Stops the reaper thread and restores SIGCHLD (tests). Waiters still pending get
    /// `ReaperError.shutdown`. The agent never calls this.
    public func shutdown() {
        let alreadyStopping = state.withLock { state in
            defer { state.stopping = true }
            return state.stopping
        }
        guard !alreadyStopping else { return }
        wake()
        threadDone.wait()
        if mode == .all {
            _ = core_sigchld_restore()
        }
        if madeSubreaper {
            _ = core_set_child_subreaper(0)
        }
        let waiters: [CheckedContinuation<Int32, any Error>] = state.withLock { state in
            var pending: [CheckedContinuation<Int32, any Error>] = []
            for (pid, record) in state.records {
                if record.pidfd >= 0 { close(record.pidfd) }
                pending += record.waiters
                state.records[pid]?.waiters = []
                state.records[pid]?.pidfd = -1
            }
            state.stopped = true
            return pending
        }
        for waiter in waiters { waiter.resume(throwing: ReaperError.shutdown) }
        close(wakeRead)
        close(wakeWrite)
    }

    func wake() {
        var byte: UInt8 = 1
        _ = Glibc.write(wakeWrite, &byte, 1)
    }
}

/// Errors of the reaper's queries.
public enum ReaperError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The pid was never registered with this reaper, or was forgotten.
    case unknownPid(pid_t)
    /// The pid has already exited (or is unknown), so it cannot be signalled safely.
    case notRunning(pid_t)
    /// The reaper was shut down while the caller waited.
    case shutdown

    public var description: String {
        switch self {
        case let .unknownPid(pid): return "pid \(pid) is not a child registered with the reaper"
        case let .notRunning(pid): return "pid \(pid) is not running"
        case .shutdown: return "the reaper was shut down"
        }
    }
}
