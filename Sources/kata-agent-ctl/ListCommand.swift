import ArgumentParser

/// `list`: the RPC names `connect -c` and `call` accept.
struct ListCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list", abstract: "Print the RPC names, one a line.")

    @Flag(help: "Print full method paths (grpc.AgentService/CreateSandbox).")
    var full = false

    func run() {
        let names = full ? RPCCatalog.methods.map { $0.descriptor.fullyQualifiedMethod } : RPCCatalog.listing
        for name in names { print(name) }
    }
}
