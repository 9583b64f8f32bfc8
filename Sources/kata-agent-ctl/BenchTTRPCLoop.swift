import AgentWire
import KataProtocols
import SwiftProtobuf
import Synchronization
import TTRPCWire

/// The bench subcommands over ttrpc: one request repeated by the connection's handler as each
/// answer arrives (TTRPCConnection.loop), so the client's share of a round trip is a frame
/// written and one read; a task and promises per call were twice the agent's own instructions
/// per Health.Check. The Go client's figures in `make bench` keep the real runtime's library
/// measured too.
enum BenchTTRPCLoop {
    /// Sequential Health.Check calls: the latency of each timed one.
    static func health(_ connection: TTRPCConnection, calls: Int, warmup: Int, timeout: Duration?) async throws(CtlError) -> [Duration] {
        struct State {
            var answered = 0
            var samples: [Duration] = []
            var last: ContinuousClock.Instant
            var failure: TTRPCStatus?
        }
        let clock = ContinuousClock()
        var initial = State(last: clock.now)
        initial.samples.reserveCapacity(calls)
        let state = LoopState(initial)
        let total = warmup + calls
        try await run("Check") { () async throws in
            try await connection.loop(
                service: Grpc_Health.descriptor.fullyQualifiedService, method: "Check", payload: [], timeout: timeout
            ) { response in
                let now = clock.now
                return state.withLock { state in
                    guard response.status.code == 0 else {
                        state.failure = response.status
                        return false
                    }
                    if state.answered >= warmup { state.samples.append(now - state.last) }
                    state.answered += 1
                    state.last = now
                    return state.answered < total
                }
            }
        }
        let (samples, failure) = state.withLock { ($0.samples, $0.failure) }
        if let failure { throw failed("Check", failure) }
        return samples
    }

    /// ReadStdout with `request` until the agent answers empty data (EOF).
    static func readStdout(
        _ connection: TTRPCConnection, request: Grpc_ReadStreamRequest, timeout: Duration?
    ) async throws(CtlError) -> ThroughputResult {
        struct State {
            var bytes = 0
            var reads = 0
            var failure: TTRPCStatus?
        }
        let payload: [UInt8]
        do {
            payload = try request.serializedBytes()
        } catch {
            throw CtlError.usage("cannot encode the request for ReadStdout: \(error)")
        }
        let state = LoopState(State())
        let clock = ContinuousClock()
        let start = clock.now
        try await run("ReadStdout") { () async throws in
            try await connection.loop(
                service: Grpc_AgentService.descriptor.fullyQualifiedService, method: "ReadStdout", payload: payload,
                timeout: timeout
            ) { response in
                // Decoded as a runtime decodes it, data and all.
                let decoded = response.status.code == 0
                    ? try? Grpc_ReadStreamResponse(serializedBytes: response.payload) : nil
                return state.withLock { state in
                    guard let decoded else {
                        state.failure = response.status.code == 0
                            ? TTRPCStatus(code: 13, message: "cannot decode the agent's response") : response.status
                        return false
                    }
                    state.reads += 1
                    state.bytes += decoded.data.count
                    return !decoded.data.isEmpty
                }
            }
        }
        let elapsed = clock.now - start
        let (bytes, reads, failure) = state.withLock { ($0.bytes, $0.reads, $0.failure) }
        if let failure { throw failed("ReadStdout", failure) }
        return ThroughputResult(bytes: bytes, reads: reads, elapsed: elapsed)
    }

    /// Runs a loop, mapping what ends it early as AgentClient maps a call's failure.
    private static func run(_ name: String, _ body: () async throws -> Void) async throws(CtlError) {
        do {
            try await body()
        } catch let error as TTRPCCallError {
            throw CtlError.rpc(name: name, code: AgentClient.code(error.code), message: error.message)
        } catch {
            throw CtlError.rpc(name: name, code: .unavailable, message: "\(error)")
        }
    }

    private static func failed(_ name: String, _ status: TTRPCStatus) -> CtlError {
        CtlError.rpc(name: name, code: AgentClient.code(status.code), message: status.message)
    }
}

/// A loop's state, shared with its answer callback (which runs on the connection's event loop).
private final class LoopState<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>

    init(_ value: sending Value) {
        mutex = Mutex(value)
    }

    func withLock<Result: Sendable>(_ body: (inout Value) -> Result) -> Result {
        mutex.withLock { body(&$0) }
    }
}
