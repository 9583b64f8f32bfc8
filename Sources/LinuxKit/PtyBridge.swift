import Logging
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// One debug console session: a connection's bytes to and from a shell on a fresh PTY.
///
/// The shell is a session leader with the pty slave as its controlling terminal. When the
/// connection closes the shell is SIGKILLed (upstream does the same: a vanished host must
/// not leave a shell behind); when the shell exits, its last output is delivered and the
/// connection is closed. Either way the shell is reaped before `run` returns.
public struct PtyBridge: Sendable {
    public let shell: String
    public let environment: [String]
    public let reaper: Reaper
    public let logger: Logger

    public init(shell: String, environment: [String] = ConsoleShell.environment(), reaper: Reaper, logger: Logger) {
        self.shell = shell
        self.environment = environment
        self.reaper = reaper
        self.logger = logger
    }

    /// How a session ended.
    public struct Report: Sendable, Equatable {
        public let pid: pid_t
        /// Exit status as the reaper reports it (code, or 128 + signal).
        public let status: Int32
        /// True when the connection closed first (the shell was killed).
        public let connectionClosedFirst: Bool
    }

    /// Serves `connection` (taken over and closed) until one side ends; blocks the calling
    /// thread, so call it from a dedicated thread, never from the cooperative pool.
    /// `stop` ends the session early (agent shutdown, tests).
    public func run(connection: Int32, name: String, stop: ConsoleWakeup? = nil) throws(SyscallError) -> Report {
        defer { ConsoleIO.closeQuietly(connection) }
        let pty = try PtyPair.open()
        // A zero-sized terminal confuses line editors; the client may resize later.
        try? PtyPair.setWindowSize(pty.master, rows: 24, columns: 80)
        let pid: pid_t
        do {
            pid = try ConsoleShell.spawn(
                path: shell, arguments: [shell], environment: environment, tty: pty.slave,
                newSession: true, reaper: reaper)
        } catch {
            ConsoleIO.closeQuietly(pty.master)
            ConsoleIO.closeQuietly(pty.slave)
            throw error
        }
        // The shell holds its own copy; ours would keep the master from seeing the hangup.
        ConsoleIO.closeQuietly(pty.slave)
        logger.info("debug console shell started", metadata: ["pid": "\(pid)", "shell": "\(shell)", "peer": "\(name)"])

        var outcome = ConsolePump.Outcome.stopped
        do {
            try ConsoleIO.setNonBlocking(connection, target: name)
            try ConsoleIO.setNonBlocking(pty.master, target: "pty master")
            let pump = ConsolePump(
                a: .init(fd: connection, name: name), b: .init(fd: pty.master, name: "pty master of pid \(pid)"),
                wakeup: stop)
            outcome = pump.run()
        } catch {
            logger.error("debug console bridge setup failed", metadata: ["error": "\(error)"])
        }
        let connectionClosedFirst = outcome != .sideBClosed
        if connectionClosedFirst {
            do {
                try reaper.signal(pid, SIGKILL)
            } catch ReaperError.notRunning {
                // It exited on its own meanwhile: nothing to kill.
            } catch {
                logger.warning("kill debug console shell failed", metadata: ["pid": "\(pid)", "error": "\(error)"])
            }
        }
        if case let .failed(error) = outcome {
            logger.warning("debug console bridge failed", metadata: ["pid": "\(pid)", "error": "\(error)"])
        }
        // Closing the master hangs up the terminal, so anything the shell left in the
        // foreground gets SIGHUP too.
        ConsoleIO.closeQuietly(pty.master)
        _ = shutdown(connection, Int32(SHUT_RDWR))

        let status: Int32
        switch ConsoleShell.waitBlocking(pid, reaper: reaper) {
        case let .success(code): status = code
        case let .failure(error):
            reaper.forget(pid)
            throw SyscallError("wait for debug console shell", target: "pid \(pid)", errno: 0, detail: "\(error)")
        }
        reaper.forget(pid)
        logger.info("debug console session ended", metadata: [
            "pid": "\(pid)", "status": "\(status)", "closed_by": "\(connectionClosedFirst ? "peer" : "shell")",
        ])
        return Report(pid: pid, status: status, connectionClosedFirst: connectionClosedFirst)
    }
}
