import ArgumentParser

/// `connect`: runs several RPCs in order over one connection, like upstream agent-ctl.
struct ConnectCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "connect",
        abstract: "Run commands in order over one connection.",
        discussion: """
            Example:
              kata-agent-ctl connect --server-address unix:///run/agent.sock \\
                -c Check -c 'GetGuestDetails json://{"mem_block_size":true}'
            """)

    @ParentCommand var root: KataAgentCtl

    @Option(name: [.customShort("c"), .customLong("cmd")],
            help: ArgumentHelp("A command: 'RPC', 'RPC json://{...}' or 'RPC file://PATH'.",
                               valueName: "command"))
    var commands: [String] = []

    @Flag(help: "After a failed RPC, run the remaining commands (the exit status is still 1).")
    var keepGoing = false

    func run() async throws {
        let status: Int32
        do {
            status = try await execute()
        } catch {
            throw CtlOutput.fail(error)
        }
        if status != 0 { throw ExitCode(status) }
    }

    /// Returns the exit status when every failure was already reported (--keep-going).
    private func execute() async throws(CtlError) -> Int32 {
        let address = try root.requireAddress()
        guard !commands.isEmpty else { throw CtlError.usage("no commands: give at least one -c 'RPC ...'") }
        // Every command is checked before the first one is sent.
        var specs: [RequestSpec] = []
        for command in commands { specs.append(try RequestSpec(parsing: command)) }

        let failed = try await AgentConnection.with(address: address, transport: root.transport, timeout: root.rpcTimeout) {
            client throws(CtlError) -> CtlError? in
            var firstFailure: CtlError?
            for spec in specs {
                do throws(CtlError) {
                    CtlOutput.printResponse(try await client.call(spec))
                } catch {
                    guard keepGoing else { throw error }
                    CtlOutput.printError(error)
                    firstFailure = firstFailure ?? error
                }
            }
            return firstFailure
        }
        return failed?.exitStatus ?? 0
    }
}
