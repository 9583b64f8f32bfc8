import Foundation
import KataProtocols
import SwiftProtobuf
import XCTest

/// Root test: container output written in 64 KiB blocks, drained through containerd/ttrpc's
/// Go client in the shim's 32 KiB reads. The pump hands its full read blocks to the output
/// buffer and each answer writes a slice of one behind its field header (no encoding copy):
/// every byte must arrive, in order, as protobuf-encoded ReadStreamResponses.
final class TTRPCInteropLargeReadTests: ContainerRPCTestCase {
    override var extraApplets: [String]? { ["sh", "seq", "dd"] }

    func testOutputWrittenInLargeBlocksArrivesWholeInShimSizedReads() async throws {
        let agent = try await AgentProcess.start(for: self)
        let rpc = ContainerRPCClient(agent: agent, rootfs: rootfs)
        let id = ContainerRPCClient.uniqueID("big")
        let lines = 300_000
        try await rpc.run(id, spec: rpc.spec(
            ["sh", "-c", "seq 1 \(lines) | dd bs=65536 iflag=fullblock 2>/dev/null"]))
        let results = try GoTTRPCClient.run(
            [["op": "drain", "container_id": id, "exec_id": id, "len": 32768]],
            address: "unix://" + agent.socketPath, in: self)
        guard let drained = results.first else { return }
        XCTAssertEqual(drained["code"] as? String, "OK", "\(drained.filter { $0.key != "text" })")
        let expected = Data((1...lines).map { "\($0)\n" }.joined().utf8)
        XCTAssertEqual(drained["bytes"] as? Int, expected.count, "bytes through ReadStdout: \(drained.filter { $0.key != "text" })")
        XCTAssertEqual(drained["fnv1a"] as? String, GoTTRPCClient.fnv1a(expected), "the output arrived changed or out of order")
        let text = Data((drained["text"] as? String ?? "").utf8)
        XCTAssertEqual(text, expected.prefix(text.count), "the first reads' text")
        // 32 KiB at most per read, then the empty EOF.
        let reads = drained["reads"] as? Int ?? 0
        XCTAssertGreaterThanOrEqual(reads, (expected.count + 32767) / 32768 + 1, "\(reads) reads")
        let status = try await rpc.wait(id)
        XCTAssertEqual(status, 0)
        await rpc.removeQuietly([id])
        await agent.assertServing()
    }
}
