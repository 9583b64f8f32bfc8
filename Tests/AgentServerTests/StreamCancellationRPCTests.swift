import Foundation
import GRPCCore
import KataProtocols
import XCTest

/// Root tests: a ReadStdout whose caller gave up (deadline passed) must not consume output
/// the next ReadStdout should get. gRPC tells the server through the RPC's cancellation
/// handle, not by cancelling the handler's task, so a read that waits for output has to
/// listen for it.
final class StreamCancellationRPCTests: ContainerRPCTestCase {
    func testAbandonedReadDoesNotSwallowLaterOutput() async throws {
        let agent = try await AgentProcess.start(for: self)
        let rpc = ContainerRPCClient(agent: agent, rootfs: rootfs)
        let id = ContainerRPCClient.uniqueID("rdc")
        try await rpc.run(id, spec: rpc.spec(["sh", "-c", "read x; echo out-$x; read y; echo err-$y >&2"]))

        // Nothing is written before stdin gets a line: both reads run into their deadlines.
        for stderr in [false, true] {
            var request = Grpc_ReadStreamRequest()
            request.containerID = id
            request.len = 4096
            do {
                let reply = stderr
                    ? try await agent.agentService.readStderr(request, options: AgentProcess.callOptions(seconds: 1))
                    : try await agent.agentService.readStdout(request, options: AgentProcess.callOptions(seconds: 1))
                XCTFail("read answered \(reply.data.count) bytes before the container wrote any")
            } catch let error as RPCError {
                XCTAssertEqual(error.code, .deadlineExceeded, "\(error)")
            }
        }
        try await rpc.write(id, id, "a\n")
        try await rpc.write(id, id, "b\n")
        let status = try await rpc.wait(id)
        XCTAssertEqual(status, 0)
        let out = try await rpc.readAll(id)
        XCTAssertEqual(out, "out-a\n", "stdout went to the abandoned read")
        var err = Data()
        while true {
            var request = Grpc_ReadStreamRequest()
            request.containerID = id
            request.len = 4096
            let chunk = try await agent.agentService.readStderr(request, options: ContainerRPCClient.options).data
            if chunk.isEmpty { break }
            err.append(chunk)
        }
        XCTAssertEqual(String(decoding: err, as: UTF8.self), "err-b\n", "stderr went to the abandoned read")
        await agent.assertServing()
        await rpc.removeQuietly([id])
    }
}
