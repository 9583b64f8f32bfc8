import ArgumentParser

/// `call`: one RPC, its request as an option; what scripts and the e2e tests use.
struct CallCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "call",
        abstract: "Call one RPC and print its response as one JSON line.",
        discussion: """
            Example:
              kata-agent-ctl --server-addr unix:///run/agent.sock call GetGuestDetails \\
                --json '{"mem_block_size":true}'
            """)

    @ParentCommand var root: KataAgentCtl

    @Argument(help: "RPC name, e.g. CreateSandbox or grpc.health.v1.Health/Check (see `list`).")
    var rpc: String

    @Option(help: "The request as protobuf JSON (upstream field names).")
    var json: String?

    @Option(help: "A file holding the request as protobuf JSON.")
    var file: String?

    func run() async throws {
        do {
            let address = try root.requireAddress()
            let argument: String?
            switch (json, file) {
            case (nil, nil): argument = nil
            case let (json?, nil): argument = "json://" + json
            case let (nil, file?): argument = "file://" + file
            case (_?, _?): throw CtlError.usage("give --json or --file, not both")
            }
            let spec = try RequestSpec(command: rpc, name: rpc, argument: argument)
            try await AgentConnection.with(address: address, transport: root.transport, timeout: root.rpcTimeout) {
                client throws(CtlError) in
                CtlOutput.printResponse(try await client.call(spec))
            }
        } catch let error as CtlError {
            throw CtlOutput.fail(error)
        }
    }
}
