import ArgumentParser
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import KataProtocols

/// `bench`: measures the agent's RPC path from a native client, so the figures are the server's
/// cost rather than a scripting client's (`make bench` runs these).
struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure RPC latency and stdout throughput; print one JSON line.",
        subcommands: [BenchHealthCommand.self, BenchReadStdoutCommand.self])
}

/// Options every bench subcommand shares.
struct BenchConnectionOptions: ParsableArguments {
    @Option(help: "Agent address (unix:///path, unix://@name, vsock://CID:PORT); defaults to --server-address.")
    var addr: String?

    /// `--addr`, else the global address, else a usage error.
    func address(root: KataAgentCtl) throws(CtlError) -> String {
        if let addr, !addr.isEmpty { return addr }
        return try root.requireAddress()
    }
}

/// `bench health`: sequential Kata Health.Check calls over one connection.
struct BenchHealthCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "health",
        abstract: "Time sequential Health.Check round trips over one connection.",
        discussion: """
            Prints {"calls":N,"p50_us":..,"p99_us":..,"min_us":..,"max_us":..,"mean_us":..}.
            Example:
              kata-agent-ctl bench health --addr unix:///run/agent.sock --calls 10000 --transport grpc
            """)

    @ParentCommand var root: KataAgentCtl
    @OptionGroup var connection: BenchConnectionOptions

    @Option(help: "Timed calls.")
    var calls = 10_000

    @Option(help: "Untimed calls first (connection set-up, HTTP/2 windows, allocator).")
    var warmup = 500

    func run() async throws {
        do {
            guard calls > 0 else { throw CtlError.usage("--calls must be at least 1, not \(calls)") }
            guard warmup >= 0 else { throw CtlError.usage("--warmup must not be negative, not \(warmup)") }
            let address = try connection.address(root: root)
            let (calls, warmup, timeout, transport) = (calls, warmup, root.rpcTimeout, root.transport)
            let samples = try await BenchEventLoop.run { group throws(CtlError) -> [Duration] in
                try await AgentConnection.with(
                    address: address, transport: transport, timeout: timeout, eventLoopGroup: group
                ) {
                    client throws(CtlError) -> [Duration] in
                    try await Self.measure(client, calls: calls, warmup: warmup)
                }
            }
            guard let summary = LatencySummary(samples) else {
                throw CtlError.usage("no samples were taken")
            }
            print(try BenchJSON.line(summary))
        } catch let error as CtlError {
            throw CtlOutput.fail(error)
        }
    }

    private static func measure(_ agent: AgentClient, calls: Int, warmup: Int) async throws(CtlError) -> [Duration] {
        if case let .ttrpc(connection) = agent.connection {
            return try await BenchTTRPCLoop.health(connection, calls: calls, warmup: warmup, timeout: agent.timeout)
        }
        let request = Grpc_CheckRequest()
        let clock = ContinuousClock()
        var samples: [Duration] = []
        samples.reserveCapacity(calls)
        for _ in 0..<warmup {
            _ = try await agent.unary(Grpc_Health.Method.Check.self, request)
        }
        for _ in 0..<calls {
            let start = clock.now
            _ = try await agent.unary(Grpc_Health.Method.Check.self, request)
            samples.append(clock.now - start)
        }
        return samples
    }
}

/// `bench read-stdout`: drains a process's stdout through ReadStdout, as the shim does.
struct BenchReadStdoutCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "read-stdout",
        abstract: "Read a process's stdout through ReadStdout until EOF and report the rate.",
        discussion: """
            Sends ReadStdout with `len` = --chunk until the agent answers with empty data (EOF:
            the process exited and its output is drained). The clock runs from the first request
            to the EOF answer. Prints {"bytes":..,"reads":..,"seconds":..,"mib_per_s":..}.
            Example:
              kata-agent-ctl bench read-stdout --addr unix:///run/agent.sock --container-id c1
            """)

    @ParentCommand var root: KataAgentCtl
    @OptionGroup var connection: BenchConnectionOptions

    @Option(help: "The container.")
    var containerId: String

    @Option(help: "The exec id; empty (the default) names the container's init process.")
    var execId = ""

    @Option(help: "Bytes asked for per ReadStdout (32768 is the Go runtime's io.Copy buffer).")
    var chunk = 32_768

    func run() async throws {
        do {
            guard chunk > 0, chunk <= Int(UInt32.max) else {
                throw CtlError.usage("--chunk must be between 1 and \(UInt32.max), not \(chunk)")
            }
            let address = try connection.address(root: root)
            var request = Grpc_ReadStreamRequest()
            request.containerID = containerId
            request.execID = execId
            request.len = UInt32(chunk)
            let (timeout, transport) = (root.rpcTimeout, root.transport)
            let result = try await BenchEventLoop.run { group throws(CtlError) -> ThroughputResult in
                try await AgentConnection.with(
                    address: address, transport: transport, timeout: timeout, eventLoopGroup: group
                ) {
                    client throws(CtlError) -> ThroughputResult in
                    try await Self.drain(client, request: request)
                }
            }
            print(try BenchJSON.line(result))
        } catch let error as CtlError {
            throw CtlOutput.fail(error)
        }
    }

    private static func drain(_ agent: AgentClient, request: Grpc_ReadStreamRequest) async throws(CtlError) -> ThroughputResult {
        if case let .ttrpc(connection) = agent.connection {
            return try await BenchTTRPCLoop.readStdout(connection, request: request, timeout: agent.timeout)
        }
        let clock = ContinuousClock()
        var bytes = 0
        var reads = 0
        let start = clock.now
        while true {
            let count = try await agent.unary(Grpc_AgentService.Method.ReadStdout.self, request).data.count
            reads += 1
            if count == 0 { break }
            bytes += count
        }
        return ThroughputResult(bytes: bytes, reads: reads, elapsed: clock.now - start)
    }
}

/// Helpers shared by the bench subcommands.
enum BenchJSON {
    /// One compact JSON line with sorted keys, so scripts and diffs see a stable shape.
    static func line(_ value: some Encodable) throws(CtlError) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        do {
            return String(decoding: try encoder.encode(value), as: UTF8.self)
        } catch {
            throw CtlError.usage("cannot encode the result as JSON: \(error)")
        }
    }
}
