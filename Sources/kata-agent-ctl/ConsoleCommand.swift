import ArgumentParser
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import LinuxKit

/// `console`: a raw terminal on the agent's debug console (agent.debug_console_vport).
struct ConsoleCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "console",
        abstract: "Open the agent's debug console: a shell in the guest.",
        discussion: """
            Addresses: vsock://CID:PORT (AF_VSOCK; the runtime's console port is 1026),
            hvsock:///path/to/vmm.sock:PORT (hybrid vsock: the VMM's unix socket, `CONNECT PORT`),
            unix:///path or unix://@name (a unix socket serving the console).
            With a terminal on stdin it is put in raw mode; the session ends when the remote
            shell exits (type `exit`). Piped stdin works too:
              echo 'uname -a; exit' | kata-agent-ctl console --server-addr vsock://3:1026
            """)

    @ParentCommand var root: KataAgentCtl

    @Option(name: [.customLong("server-addr"), .customLong("server-address")],
            help: "Console address (overrides the global --server-address).")
    var serverAddress: String?

    @Option(help: "Give up connecting (and the hybrid vsock handshake) after this many seconds.")
    var connectTimeout: Double = 10

    func run() throws {
        guard let text = serverAddress ?? root.serverAddress, !text.isEmpty else {
            throw CtlOutput.fail(.usage("console needs --server-addr (vsock://CID:PORT, hvsock:///vmm.sock:PORT or unix:///path)"))
        }
        let target: ConsoleClient.Target
        do {
            target = try ConsoleClient.Target.parse(text)
        } catch {
            throw CtlOutput.fail(.usage("\(error)"))
        }
        let connection: Int32
        do {
            connection = try ConsoleClient.connect(target, timeout: connectTimeout)
        } catch {
            throw CtlOutput.fail(.connection("cannot open the debug console: \(error)"))
        }
        defer { ConsoleIO.closeQuietly(connection) }
        // The global --timeout bounds the whole session when set (scripts, tests).
        let deadline = root.timeout == 0 ? nil : ConsoleClock.now() + Double(root.timeout)
        switch ConsoleClient.bridge(connection: connection, deadline: deadline) {
        case .sideBClosed, .sideAClosed, .stopped:
            return
        case .timedOut:
            throw CtlOutput.fail(.connection("debug console session at \(target) exceeded --timeout \(root.timeout)s"))
        case let .failed(error):
            throw CtlOutput.fail(.connection("debug console session at \(target) failed: \(error)"))
        }
    }
}
