import CLinuxShim
import Glibc
import Logging

/// The reaper thread: waits for wake-ups and collects exited children.
extension Reaper {
    /// `waitpid` status word to the agent's convention: exit code, or 128 + signal number.
    public static func exitStatus(fromWaitStatus status: Int32) -> Int32 {
        let signal = status & 0x7f
        if signal == 0 {
            return (status >> 8) & 0xff
        }
        return 128 + signal
    }

    func run() {
        while true {
            var fds = [pollfd(fd: wakeRead, events: Int16(POLLIN), revents: 0)]
            var polledPids: [pid_t] = []
            let stopping = state.withLock { state in
                if mode == .registeredOnly {
                    for (pid, record) in state.records where record.status == nil && record.pidfd >= 0 {
                        fds.append(pollfd(fd: record.pidfd, events: Int16(POLLIN), revents: 0))
                        polledPids.append(pid)
                    }
                }
                return state.stopping
            }
            if stopping { return }
            let ready = poll(&fds, nfds_t(fds.count), -1)
            if ready < 0 {
                let err = errno
                if err != EINTR {
                    logger.error("reaper poll failed", metadata: ["errno": "\(err)"])
                }
                continue
            }
            drainWakePipe()
            switch mode {
            case .all:
                reapEverything()
            case .registeredOnly:
                for (index, pid) in polledPids.enumerated() where fds[index + 1].revents != 0 {
                    reapRegistered(pid)
                }
            }
        }
    }

    private func drainWakePipe() {
        var buffer = [UInt8](repeating: 0, count: 64)
        while read(wakeRead, &buffer, buffer.count) > 0 {}
    }

    /// Reaps every exited child; `waitpid` runs under the lock so `signal` never hits a pid
    /// that was reaped and reused in between.
    private func reapEverything() {
        var unknown: [(pid_t, Int32)] = []
        let wakeups: [(CheckedContinuation<Int32, any Error>, Int32)] = state.withLock { state in
            var wakeups: [(CheckedContinuation<Int32, any Error>, Int32)] = []
            while true {
                var raw: Int32 = 0
                // __WALL: also children whose exit signal is not SIGCHLD (clone with flags).
                let pid = waitpid(-1, &raw, WNOHANG | Int32(bitPattern: 0x4000_0000))
                if pid <= 0 { break }
                let status = Reaper.exitStatus(fromWaitStatus: raw)
                if var record = state.records[pid], record.status == nil {
                    record.status = status
                    wakeups += record.waiters.map { ($0, status) }
                    record.waiters = []
                    state.records[pid] = record
                } else {
                    unknown.append((pid, status))
                }
            }
            return wakeups
        }
        for (waiter, status) in wakeups { waiter.resume(returning: status) }
        for (pid, status) in unknown {
            logger.info("reaped unregistered child", metadata: ["pid": "\(pid)", "status": "\(status)"])
        }
    }

    private func reapRegistered(_ pid: pid_t) {
        let wakeups: [CheckedContinuation<Int32, any Error>]
        let status: Int32
        (wakeups, status) = state.withLock { state in
            guard var record = state.records[pid], record.status == nil else { return ([], 0) }
            var raw: Int32 = 0
            let reaped = waitpid(pid, &raw, WNOHANG)
            guard reaped == pid else { return ([], 0) }
            let status = Reaper.exitStatus(fromWaitStatus: raw)
            record.status = status
            if record.pidfd >= 0 { close(record.pidfd) }
            record.pidfd = -1
            let waiters = record.waiters
            record.waiters = []
            state.records[pid] = record
            return (waiters, status)
        }
        for waiter in wakeups { waiter.resume(returning: status) }
    }
}
