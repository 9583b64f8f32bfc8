#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Logging
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The agent's debug console (`agent.debug_console`).
///
/// vport > 0: every connection to the vsock listener gets its own PTY and shell (`serve`).
/// vport 0: one `shell -i` on /dev/console (`runOnConsole`); as upstream, it is not
/// respawned when it exits. The same `serve` runs over a unix listener in tests.
public final class DebugConsole: Sendable {
    public let shell: String
    let reaper: Reaper
    let logger: Logger
    let environment: [String]
    let stopSignal: ConsoleWakeup
    let onSessionEnd: (@Sendable (PtyBridge.Report) -> Void)?

    /// Picks the shell from `candidates`; nil (after the clear log line) when none exists.
    public init?(
        candidates: [String] = ConsoleShell.defaultCandidates, reaper: Reaper, logger: Logger,
        environment: [String] = ConsoleShell.environment(),
        onSessionEnd: (@Sendable (PtyBridge.Report) -> Void)? = nil
    ) {
        guard let shell = ConsoleShell.find(candidates: candidates) else {
            logger.error("\(ConsoleShell.missingMessage(candidates: candidates))")
            return nil
        }
        guard let stopSignal = try? ConsoleWakeup() else {
            logger.error("debug console disabled: cannot create its stop pipe")
            return nil
        }
        self.shell = shell
        self.reaper = reaper
        self.logger = logger
        self.environment = environment
        self.stopSignal = stopSignal
        self.onSessionEnd = onSessionEnd
    }

    /// Opens the listener the configuration asks for: vsock (CID_ANY, vport), serving the peers
    /// `peers` admits (a root shell must not be one connect away from a container).
    public static func vsockListener(
        port: UInt32, peers: VsockPeerPolicy = .hostOnly, onRefused: @escaping @Sendable (UInt32) -> Void = { _ in }
    ) throws(SyscallError) -> ConsoleListener {
        try ConsoleListener.vsock(port: port, peers: peers, onRefused: onRefused)
    }

    /// Accepts connections on a background thread, one PTY + shell per connection, until
    /// `stop()`. Returns at once.
    public func serve(listener: ConsoleListener) {
        logger.info("debug console listening", metadata: ["address": "\(listener.name)", "shell": "\(shell)"])
        BackgroundThread.start(name: "debug-console-accept") { [self] in
            acceptLoop(listener)
        }
    }

    private func acceptLoop(_ listener: ConsoleListener) {
        var sessions = 0
        while !stopSignal.isRaised {
            let connection: Int32
            do {
                guard let fd = try listener.accept() else { break }
                connection = fd
            } catch {
                logger.error("debug console stopped accepting", metadata: ["error": "\(error)"])
                break
            }
            sessions += 1
            let name = "\(listener.name) connection \(sessions)"
            let bridge = PtyBridge(shell: shell, environment: environment, reaper: reaper, logger: logger)
            // No thread (EAGAIN: a container used up the pid limit, when an operator most needs
            // the console) refuses this session only: the agent is PID 1 and must go on.
            do {
                try BackgroundThread.tryStart(name: "debug-console-session") { [self] in
                    do {
                        let report = try bridge.run(connection: connection, name: name, stop: stopSignal)
                        onSessionEnd?(report)
                    } catch {
                        logger.error("debug console session failed", metadata: ["peer": "\(name)", "error": "\(error)"])
                    }
                }
            } catch {
                close(connection)
                logger.error("debug console session not started", metadata: ["peer": "\(name)", "error": "\(error)"])
            }
        }
        logger.info("debug console listener closed", metadata: ["address": "\(listener.name)"])
    }

    /// vport 0: runs `shell -i` with `path` (normally /dev/console) as its stdio, on a
    /// background thread. The shell stays in the agent's session, as upstream's does.
    public func runOnConsole(path: String = "/dev/console") {
        BackgroundThread.start(name: "debug-console-tty") { [self] in
            do {
                let status = try runOnConsoleBlocking(path: path)
                // Upstream runs the console shell once; an exited shell is not restarted.
                logger.info("debug console shell exited; not respawned", metadata: ["console": "\(path)", "status": "\(status)"])
            } catch {
                logger.error("debug console on \(path) failed", metadata: ["error": "\(error)"])
            }
        }
    }

    /// The blocking body of `runOnConsole`: returns the shell's exit status.
    public func runOnConsoleBlocking(path: String) throws(SyscallError) -> Int32 {
        let fd = open(path, O_RDWR | O_CLOEXEC | O_NOCTTY)
        guard fd >= 0 else { throw SyscallError("open console", target: path, errno: errno) }
        defer { close(fd) }
        let pid = try ConsoleShell.spawn(
            path: shell, arguments: [shell, "-i"], environment: environment, tty: fd, newSession: false, reaper: reaper)
        logger.info("debug console shell started", metadata: ["pid": "\(pid)", "shell": "\(shell)", "console": "\(path)"])
        let result = ConsoleShell.waitBlocking(pid, reaper: reaper)
        reaper.forget(pid)
        switch result {
        case let .success(status): return status
        case let .failure(error):
            throw SyscallError("wait for console shell", target: "pid \(pid)", errno: 0, detail: "\(error)")
        }
    }

    /// Stops accepting and ends every open session (their shells are killed and reaped).
    public func stop(listener: ConsoleListener? = nil) {
        stopSignal.raise()
        listener?.stop()
    }
}
