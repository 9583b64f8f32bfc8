import Foundation
import GRPCCore
import KataProtocols
import XCTest

/// Root tests: the pid namespace every container gets from the agent. The Go runtime strips the
/// pid entry from the spec (vc/kata_agent.go handlePidNamespace) and sends sandbox_pidns when
/// the pod shares one; upstream's agent then adds a new pid namespace, or the first container's.
final class PodPidNamespaceRPCTests: ContainerRPCTestCase {
    func testASpecWithoutAPidEntryGetsAPidNamespace() async throws {
        let agent = try await AgentProcess.start(for: self)
        let rpc = ContainerRPCClient(agent: agent, rootfs: rootfs)
        let first = ContainerRPCClient.uniqueID("gopid-a")
        let second = ContainerRPCClient.uniqueID("gopid-b")
        let joined = ContainerRPCClient.uniqueID("gopid-c")
        let namespaces = ContainerRPCClient.goRuntimeNamespaces
        try await rpc.run(first, spec: rpc.spec(["sleep", "1006"], namespaces: namespaces))
        try await rpc.run(second, spec: rpc.spec(["sleep", "1007"], namespaces: namespaces))
        try await rpc.run(joined, spec: rpc.spec(["sleep", "1008"], namespaces: namespaces), sandboxPidns: true)

        // Its own init is its pid 1, not the agent, and it sees no other container.
        let (firstInit, _) = try await rpc.output(first, ["cat", "/proc/1/cmdline"])
        XCTAssertEqual(firstInit, "sleep\u{0}1006\u{0}", "the container shares the agent's pid namespace")
        let (secondPs, _) = try await rpc.output(second, ["ps", "-o", "args"])
        XCTAssertFalse(secondPs.contains("sleep 1006"), secondPs)
        let (secondPid, _) = try await rpc.output(second, ["readlink", "/proc/self/ns/pid"])
        let agentPid = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(try XCTUnwrap(agent.pid))/ns/pid")
        XCTAssertNotEqual(secondPid.trimmingCharacters(in: .whitespacesAndNewlines), agentPid)

        // sandbox_pidns: the first container's.
        let (joinedInit, _) = try await rpc.output(joined, ["cat", "/proc/1/cmdline"])
        XCTAssertEqual(joinedInit, "sleep\u{0}1006\u{0}", "sandbox_pidns did not join the first container's")
        await rpc.removeQuietly([first, second, joined])
    }
}
