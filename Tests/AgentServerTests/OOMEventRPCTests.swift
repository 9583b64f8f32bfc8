import Foundation
import GRPCCore
import KataProtocols
import XCTest

/// Root tests: GetOOMEvent through the real agent. It is a long poll, as upstream's: it answers
/// the id of a container whose memory cgroup hit an OOM, queued from the moment the container
/// exists (an OOM while nobody asks is not lost), and blocks while there is none.
final class OOMEventRPCTests: ContainerRPCTestCase {
    override var extraApplets: [String]? { ["yes", "head", "ps"] }

    /// A container limited to 32 MiB whose shell, once it reads a line, grows a variable
    /// to 256 MiB: the memory cgroup's OOM killer ends it.
    private func hog(_ rpc: ContainerRPCClient) -> Grpc_Spec {
        var spec = rpc.spec(["sh", "-c", "read go; x=$(yes aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa | head -c 268435456); echo survived"])
        var memory = Grpc_LinuxMemory()
        memory.limit = 32 << 20
        var resources = Grpc_LinuxResources()
        resources.memory = memory
        spec.linux.resources = resources
        return spec
    }

    private static func oomOptions(seconds: Int64) -> CallOptions {
        AgentProcess.callOptions(seconds: seconds)
    }

    private static func nextOOMEvent(_ agent: AgentProcess, seconds: Int64) async throws -> Grpc_OOMEvent {
        try await agent.agentService.getOOMEvent(Grpc_GetOOMEventRequest(), options: oomOptions(seconds: seconds))
    }

    /// GetOOMEvent must not answer within `seconds`: nothing ran out of memory.
    private func assertNoOOMEvent(_ agent: AgentProcess, seconds: Int64, file: StaticString = #filePath, line: UInt = #line) async {
        do {
            let event = try await agent.agentService.getOOMEvent(Grpc_GetOOMEventRequest(), options: Self.oomOptions(seconds: seconds))
            XCTFail("GetOOMEvent answered \(event.containerID) without an OOM", file: file, line: line)
        } catch let error as RPCError {
            XCTAssertEqual(error.code, .deadlineExceeded, "\(error)", file: file, line: line)
        } catch {
            XCTFail("unexpected error \(error)", file: file, line: line)
        }
    }

    func testGetOOMEventBlocksUntilAContainerRunsOutOfMemory() async throws {
        let agent = try await AgentProcess.start(for: self)
        let rpc = ContainerRPCClient(agent: agent, rootfs: rootfs)
        let calm = ContainerRPCClient.uniqueID("calm")
        let hungry = ContainerRPCClient.uniqueID("oom")
        try await rpc.run(calm, spec: rpc.spec(["sleep", "1000"]))
        try await rpc.run(hungry, spec: hog(rpc))

        // Negative: no OOM yet, so the long poll is still waiting at its deadline.
        await assertNoOOMEvent(agent, seconds: 2)
        await agent.assertServing()

        let pending = Task { [agent] in try await OOMEventRPCTests.nextOOMEvent(agent, seconds: 60) }
        try await rpc.write(hungry, hungry, "go\n")
        let status = try await rpc.wait(hungry)
        XCTAssertEqual(status, 137, "the hog was not killed by the OOM killer")
        let event = try await pending.value
        XCTAssertEqual(event.containerID, hungry)
        let leftover = try await rpc.readAll(hungry)
        XCTAssertEqual(leftover, "", "the hog survived its memory limit")

        // The unlimited container is untouched and the agent still serves.
        let (calmPs, _) = try await rpc.output(calm, ["ps", "-o", "args"])
        XCTAssertTrue(calmPs.contains("sleep 1000"), calmPs)
        await agent.assertServing()
        await rpc.removeQuietly([calm, hungry])
    }

    func testAnOOMWhileNobodyAsksIsQueued() async throws {
        let agent = try await AgentProcess.start(for: self)
        let rpc = ContainerRPCClient(agent: agent, rootfs: rootfs)
        let hungry = ContainerRPCClient.uniqueID("oomq")
        try await rpc.run(hungry, spec: hog(rpc))
        try await rpc.write(hungry, hungry, "go\n")
        let status = try await rpc.wait(hungry)
        XCTAssertEqual(status, 137)
        // The OOM is over before anyone asks: upstream queues it for the next GetOOMEvent.
        let event = try await Self.nextOOMEvent(agent, seconds: 30)
        XCTAssertEqual(event.containerID, hungry)
        await rpc.removeQuietly([hungry])
    }

    func testCancelledGetOOMEventNeitherWedgesTheAgentNorSwallowsTheNextEvent() async throws {
        let agent = try await AgentProcess.start(for: self)
        let rpc = ContainerRPCClient(agent: agent, rootfs: rootfs)
        let abandoned = Task { [agent] in try await OOMEventRPCTests.nextOOMEvent(agent, seconds: 60) }
        // A second call running to its deadline gives the first time to reach the agent
        // (if it did not, the test checks less, it does not fail), then the first is cancelled.
        await assertNoOOMEvent(agent, seconds: 1)
        abandoned.cancel()
        do {
            let event = try await abandoned.value
            XCTFail("a cancelled GetOOMEvent answered \(event.containerID)")
        } catch {
            // Cancelled, as asked.
        }
        await agent.assertServing()

        let hungry = ContainerRPCClient.uniqueID("oomc")
        try await rpc.run(hungry, spec: hog(rpc))
        try await rpc.write(hungry, hungry, "go\n")
        let status = try await rpc.wait(hungry)
        XCTAssertEqual(status, 137)
        let event = try await Self.nextOOMEvent(agent, seconds: 30)
        XCTAssertEqual(event.containerID, hungry, "the event went to the cancelled call")
        await rpc.removeQuietly([hungry])
    }

    func testDestroySandboxEndsAWaitingGetOOMEvent() async throws {
        let agent = try await AgentProcess.start(for: self)
        let pending = Task { [agent] in try await OOMEventRPCTests.nextOOMEvent(agent, seconds: 60) }
        // Give the call time to reach the agent (if it did not, it fails on the closed queue
        // or the stopped server all the same).
        await assertNoOOMEvent(agent, seconds: 1)
        _ = try await agent.agentService.destroySandbox(Grpc_DestroySandboxRequest(), options: ContainerRPCClient.options)
        // Upstream closes its event channel here so the runtime's GetOOMEvent loop (and the
        // server's shutdown) do not wait forever: the call ends with an error, not its deadline.
        do {
            let event = try await pending.value
            XCTFail("GetOOMEvent answered \(event.containerID) after DestroySandbox")
        } catch let error as RPCError {
            XCTAssertNotEqual(error.code, .deadlineExceeded, "GetOOMEvent still waited after DestroySandbox: \(error)")
        }
    }
}
