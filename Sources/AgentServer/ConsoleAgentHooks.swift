import AgentConfig
import LinuxKit
import Logging

/// kata-agent's console-side start-up: the debug console and the agent.log_vport stream.
/// Failures are logged and the agent goes on: neither is needed to serve the API.
public enum ConsoleAgentHooks {
    /// Starts what `configuration` asks for. Call once, after the reaper exists.
    public static func start(
        configuration: AgentConfiguration, logSink: RedirectableLogSink, reaper: Reaper,
        logger: Logger = Logger(label: "debug-console")
    ) {
        let peers = VsockPeerPolicy(allowGuestClients: configuration.vsockGuestClients)
        if configuration.logVport > 0 {
            startLogStream(port: configuration.logVport, peers: peers, logSink: logSink, logger: logger)
        }
        if configuration.debugConsole {
            startDebugConsole(vport: configuration.debugConsoleVport, peers: peers, reaper: reaper, logger: logger)
        }
    }

    static func startLogStream(port: UInt32, peers: VsockPeerPolicy, logSink: RedirectableLogSink, logger: Logger) {
        do {
            let sink = try VsockLogSink.vsock(port: port, peers: peers)
            // From here on lines go only to the vsock reader (as upstream), buffered until one connects.
            logSink.redirect(to: VsockLineSink(sink: sink))
            logger.info("log stream served on vsock", metadata: ["port": "\(port)"])
        } catch {
            logger.error("agent.log_vport: cannot serve the log stream; logs stay on stdout",
                         metadata: ["port": "\(port)", "error": "\(error)"])
        }
    }

    static func startDebugConsole(vport: UInt32, peers: VsockPeerPolicy, reaper: Reaper, logger: Logger) {
        // DebugConsole logs the missing-shell line itself.
        guard let console = DebugConsole(reaper: reaper, logger: logger) else { return }
        if vport == 0 {
            console.runOnConsole(path: "/dev/console")
            return
        }
        do {
            let listener = try DebugConsole.vsockListener(port: vport, peers: peers) { cid in
                logger.warning("debug console: refused a vsock client that is not the host", metadata: ["cid": "\(cid)"])
            }
            console.serve(listener: listener)
        } catch {
            logger.error("debug console disabled", metadata: ["vport": "\(vport)", "error": "\(error)"])
        }
    }
}

/// The agent's LogSink protocol over LinuxKit's vsock log server.
struct VsockLineSink: LogSink {
    let sink: VsockLogSink

    func write(line: String) {
        sink.write(line)
    }
}
