import AgentConfig
import ArgumentParser
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// kata-agent-ctl: drives a Kata agent's API over ttrpc (as Kata runtimes do) or gRPC from the
/// command line, in the spirit of upstream's tools/agent-ctl. Started by main.swift.
struct KataAgentCtl: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kata-agent-ctl",
        abstract: "Call the Kata agent's API (grpc.AgentService, grpc.Health) over ttrpc or gRPC.",
        discussion: """
            Server addresses: unix:///path, unix://@abstract-name, vsock://CID:PORT,
            hvsock:///path/to/vmm.sock:PORT (hybrid vsock: the VMM's unix socket, `CONNECT PORT`).
            --transport ttrpc (the default, as Kata runtimes and upstream's agent-ctl) or grpc.
            Requests use the protobuf JSON mapping with upstream field names, given as
            json://{...} or file://PATH; an empty request sends the default message.
            Each response is printed as one JSON line on stdout; failures go to stderr.
            """,
        subcommands: subcommands)

    /// Subcommands; others add theirs here (one line each).
    static let subcommands: [any ParsableCommand.Type] = [
        ConnectCommand.self, CallCommand.self, ListCommand.self,
        ConsoleCommand.self,
        BenchCommand.self,
    ]

    @Option(name: [.customLong("server-address"), .customLong("server-addr")],
            help: "Agent address: unix:///path, unix://@name, vsock://CID:PORT or hvsock:///vmm.sock:PORT.")
    var serverAddress: String?

    @Option(help: "Wire protocol: ttrpc (as Kata runtimes) or grpc.")
    var transport: WireTransport = .ttrpc

    @Option(help: "Deadline of each RPC in seconds (0: none; GetOOMEvent and WaitProcess block).")
    var timeout: UInt = 0

    /// The address, or a usage error naming the option.
    func requireAddress() throws(CtlError) -> String {
        guard let serverAddress, !serverAddress.isEmpty else {
            throw CtlError.usage("--server-address is required (unix:///path, unix://@name or vsock://CID:PORT)")
        }
        return serverAddress
    }

    /// The longest deadline passed on: a century. Longer ones (up to UInt.max) are as good as
    /// none and are clamped, so neither transport overflows turning them into nanoseconds.
    static let maximumTimeoutSeconds: UInt = 100 * 365 * 24 * 3600

    var rpcTimeout: Duration? { timeout == 0 ? nil : .seconds(Int64(min(timeout, Self.maximumTimeoutSeconds))) }
}

extension WireTransport: ExpressibleByArgument {}

/// Output helpers: stdout carries only responses, stderr only errors, one line each.
enum CtlOutput {
    static func printResponse(_ line: String) {
        FileDescriptorLogSink(fd: 1).write(line: line)
    }

    static func printError(_ error: CtlError) {
        FileDescriptorLogSink(fd: 2).write(line: "kata-agent-ctl: \(error)")
    }

    /// Prints `error` and turns it into the exit status ArgumentParser exits with.
    static func fail(_ error: CtlError) -> ExitCode {
        printError(error)
        return ExitCode(error.exitStatus)
    }
}
