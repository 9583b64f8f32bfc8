import Foundation
import XCTest

/// Root test: `kata-agent-ctl bench read-stdout` drains a running container's stdout to EOF
/// and counts every byte, over ttrpc (its handler-driven call loop) and over gRPC.
final class AgentCtlBenchReadTests: ContainerRPCTestCase {
    override var extraApplets: [String]? { ["seq"] }

    func testBenchReadStdoutCountsEveryByteOnBothTransports() async throws {
        let agent = try await AgentProcess.start(for: self)
        let rpc = ContainerRPCClient(agent: agent, rootfs: rootfs)
        let lines = 100_000
        let expected = (1...lines).reduce(0) { $0 + String($1).utf8.count + 1 }
        let chunk = 4096
        for transport in AgentCtl.transports {
            let id = ContainerRPCClient.uniqueID("brs")
            try await rpc.run(id, spec: rpc.spec(["seq", "1", "\(lines)"]))
            let result = try AgentCtl.run(
                ["bench", "read-stdout", "--addr", "unix://" + agent.socketPath, "--container-id", id,
                 "--exec-id", id, "--chunk", "\(chunk)"] + transport,
                in: self)
            XCTAssertEqual(result.status, 0, "\(transport): \(result.stderr)")
            let object = try XCTUnwrap(
                try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any], result.stdout)
            XCTAssertEqual(object["bytes"] as? Int, expected, "\(transport): \(result.stdout)")
            // Each read is at most a chunk, and the last one is the empty EOF.
            let reads = try XCTUnwrap(object["reads"] as? Int, result.stdout)
            XCTAssertGreaterThanOrEqual(reads, (expected + chunk - 1) / chunk + 1, "\(transport): \(result.stdout)")
            let status = try await rpc.wait(id)
            XCTAssertEqual(status, 0)
            await rpc.removeQuietly([id])
        }
        await agent.assertServing()
    }
}
