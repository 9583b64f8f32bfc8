import AgentWire
import Foundation
import KataProtocols
import TTRPCWire
import XCTest

/// Root test: ReadStdout clients that leave in the middle of a call (a shim killed mid-read)
/// must not take output with them. Whatever the agent could not hand to a client that left stays
/// buffered for the next one, so all clients together get every byte, in order.
final class AbandonedReadRPCTests: ContainerRPCTestCase {
    override var extraApplets: [String]? { ["sh", "seq"] }

    func testClientsLeavingMidReadLoseNoOutput() async throws {
        let agent = try await AgentProcess.start(for: self)
        let rpc = ContainerRPCClient(agent: agent, rootfs: rootfs)
        let id = ContainerRPCClient.uniqueID("lmr")
        let lines = 200_000
        try await rpc.run(id, spec: rpc.spec(["seq", "1", "\(lines)"]))
        var request = Grpc_ReadStreamRequest()
        request.containerID = id
        request.len = 32 << 10
        let payload: [UInt8] = try request.serializedBytes()
        var got = Data()
        var eof = false
        // Each round races the agent's answer against its noticing the client left. Half the
        // clients leave once the agent has read their request (it is being served), half at
        // once; before the fix most runs lost chunks.
        for round in 0..<60 where !eof {
            let client = try RawTTRPCClient.connect(path: agent.socketPath)
            client.request(1, "grpc.AgentService", "ReadStdout", payload: payload, timeoutNano: 30_000_000_000)
            if round % 2 == 1 { try Self.waitUntilRead(client.fd) }
            // The agent reads the request and then the end of the connection, as when a shim dies.
            shutdown(client.fd, Int32(SHUT_WR))
            // What the agent still answered belongs to this client; what it did not must stay.
            guard let frame = try client.nextFrame() else { continue }
            let response = try TTRPCResponse(decoding: frame.payload)
            guard response.status.code == 0 else { continue }
            let data = try Grpc_ReadStreamResponse(serializedBytes: response.payload).data
            if data.isEmpty { eof = true } else { got.append(data) }
        }
        if !eof { got.append(Data(try await rpc.readAll(id).utf8)) }
        let expected = Data((1...lines).map { "\($0)\n" }.joined().utf8)
        if got != expected {
            let at = zip(got, expected).enumerated().first { $0.element.0 != $0.element.1 }?.offset
                ?? min(got.count, expected.count)
            XCTFail("clients got \(got.count) bytes, the container wrote \(expected.count); first difference at byte \(at)")
        }
        let status = try await rpc.wait(id)
        XCTAssertEqual(status, 0)
        await agent.assertServing()
        await rpc.removeQuietly([id])
    }

    /// Polls (with a deadline) until the peer has read everything sent on `fd`: TIOCOUTQ on a
    /// unix socket counts the bytes the receiver has not consumed yet.
    private static func waitUntilRead(_ fd: Int32, seconds: Double = 10) throws {
        let deadline = Date(timeIntervalSinceNow: seconds)
        var unread: Int32 = 1
        while true {
            guard ioctl(fd, UInt(0x5411), &unread) == 0 else {  // TIOCOUTQ
                throw RawTTRPCClient.Timeout(what: "TIOCOUTQ (errno \(errno))")
            }
            if unread == 0 { return }
            if Date() >= deadline { throw RawTTRPCClient.Timeout(what: "the agent to read the request") }
            usleep(1000)
        }
    }
}
