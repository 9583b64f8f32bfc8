import Foundation
import GRPCCore
import KataProtocols
import XCTest

/// Root tests: the pod rules through the real agent, as upstream's update_container_namespaces
/// applies them. Containers of a sandbox share the ipc and uts namespaces (the first
/// container's, persisted under /run/sandbox-ns) and the agent's network namespace; with
/// sandbox_pidns (CreateContainer's, or CreateSandbox's for every container) they join the
/// first container's pid namespace, otherwise each has its own.
final class PodSharingRPCTests: ContainerRPCTestCase {
    /// readlink of the namespace links as the container sees them.
    private func namespaces(_ rpc: ContainerRPCClient, _ id: String) async throws -> [String] {
        let (out, status) = try await rpc.output(id, ["sh", "-c", "for ns in ipc uts pid net; do readlink /proc/self/ns/$ns; done"])
        XCTAssertEqual(status, 0, out)
        return out.split(separator: "\n").map(String.init)
    }

    func testContainersShareIPCAndUTSAndTheAgentsNetwork() async throws {
        let agent = try await AgentProcess.start(for: self)
        let rpc = ContainerRPCClient(agent: agent, rootfs: rootfs)
        let first = ContainerRPCClient.uniqueID("pod-a")
        let second = ContainerRPCClient.uniqueID("pod-b")
        try await rpc.run(first, spec: rpc.spec(["sleep", "1000"], hostname: "pod-host"))
        // A later container's own hostname does not rename the pod: upstream sets it only in
        // a new UTS namespace, and this one joins the pod's.
        try await rpc.run(second, spec: rpc.spec(["sleep", "1000"], hostname: "other-host"))

        let a = try await namespaces(rpc, first)
        let b = try await namespaces(rpc, second)
        XCTAssertEqual(a.count, 4, "\(a)")
        XCTAssertEqual(b.count, 4, "\(b)")
        guard a.count == 4, b.count == 4 else { return }
        XCTAssertTrue(a[0].hasPrefix("ipc:["), a[0])
        XCTAssertEqual(a[0], b[0], "ipc namespace is not shared")
        XCTAssertEqual(a[1], b[1], "uts namespace is not shared")
        XCTAssertNotEqual(a[2], b[2], "pid namespace shared without sandbox_pidns")
        // Net is the VM's: the agent's own (the spec asked for none).
        let agentNet = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/ns/net")
        XCTAssertEqual(a[3], agentNet)
        XCTAssertEqual(b[3], agentNet)
        // Nor are they the agent's ipc/uts.
        XCTAssertNotEqual(a[0], try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/ns/ipc"))

        let (hostA, _) = try await rpc.output(first, ["hostname"])
        let (hostB, _) = try await rpc.output(second, ["hostname"])
        XCTAssertEqual(hostA, "pod-host\n")
        XCTAssertEqual(hostB, "pod-host\n")

        // The shared namespaces are persisted as bind mounts of the namespace files.
        let mounts = try String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8)
        XCTAssertTrue(mounts.contains(" /run/sandbox-ns/ipc "), "no /run/sandbox-ns/ipc mount")
        XCTAssertTrue(mounts.contains(" /run/sandbox-ns/uts "), "no /run/sandbox-ns/uts mount")

        // Outliving the first container: a third one still joins the same namespaces.
        try await rpc.remove(first)
        let third = ContainerRPCClient.uniqueID("pod-c")
        try await rpc.run(third, spec: rpc.spec(["sleep", "1000"]))
        let c = try await namespaces(rpc, third)
        XCTAssertEqual(c.first, b.first, "ipc namespace not kept after the first container left")
        XCTAssertEqual(c.dropFirst().first, b.dropFirst().first, "uts namespace not kept after the first container left")
        await rpc.removeQuietly([second, third])
    }

    func testSandboxPidnsOnCreateContainerSharesTheFirstContainersPidNamespace() async throws {
        let agent = try await AgentProcess.start(for: self)
        let rpc = ContainerRPCClient(agent: agent, rootfs: rootfs)
        let first = ContainerRPCClient.uniqueID("pid-a")
        let shared = ContainerRPCClient.uniqueID("pid-b")
        let own = ContainerRPCClient.uniqueID("pid-c")
        try await rpc.run(first, spec: rpc.spec(["sleep", "1001"]))
        try await rpc.run(shared, spec: rpc.spec(["sleep", "1002"]), sandboxPidns: true)
        try await rpc.run(own, spec: rpc.spec(["sleep", "1003"]), sandboxPidns: false)

        // With sandbox_pidns: pid 1 is the first container's init and both sleeps are visible.
        let (sharedInit, _) = try await rpc.output(shared, ["cat", "/proc/1/cmdline"])
        XCTAssertEqual(sharedInit, "sleep\u{0}1001\u{0}")
        let (sharedPs, _) = try await rpc.output(shared, ["ps", "-o", "args"])
        XCTAssertTrue(sharedPs.contains("sleep 1001") && sharedPs.contains("sleep 1002"), sharedPs)
        let (firstPs, _) = try await rpc.output(first, ["ps", "-o", "args"])
        XCTAssertTrue(firstPs.contains("sleep 1002"), "the first container does not see the joined one: \(firstPs)")

        // Without it: its own pid namespace, seeing neither of the others.
        let (ownInit, _) = try await rpc.output(own, ["cat", "/proc/1/cmdline"])
        XCTAssertEqual(ownInit, "sleep\u{0}1003\u{0}")
        let (ownPs, _) = try await rpc.output(own, ["ps", "-o", "args"])
        XCTAssertFalse(ownPs.contains("sleep 1001") || ownPs.contains("sleep 1002"), ownPs)
        XCTAssertFalse(firstPs.contains("sleep 1003"), firstPs)

        let a = try await namespaces(rpc, first)
        let b = try await namespaces(rpc, shared)
        XCTAssertEqual(a.dropFirst(2).first, b.dropFirst(2).first, "pid namespace links differ")
        await rpc.removeQuietly([first, shared, own])
    }

    func testSandboxPidnsOnCreateSandboxAppliesToEveryContainer() async throws {
        let agent = try await AgentProcess.start(for: self)
        let rpc = ContainerRPCClient(agent: agent, rootfs: rootfs)
        var sandbox = Grpc_CreateSandboxRequest()
        sandbox.sandboxPidns = true
        sandbox.sandboxID = ContainerRPCClient.uniqueID("sb")
        _ = try await agent.agentService.createSandbox(sandbox, options: ContainerRPCClient.options)
        let first = ContainerRPCClient.uniqueID("sbpid-a")
        let second = ContainerRPCClient.uniqueID("sbpid-b")
        try await rpc.run(first, spec: rpc.spec(["sleep", "1004"]))
        try await rpc.run(second, spec: rpc.spec(["sleep", "1005"]), sandboxPidns: false)
        let (secondInit, _) = try await rpc.output(second, ["cat", "/proc/1/cmdline"])
        XCTAssertEqual(secondInit, "sleep\u{0}1004\u{0}", "CreateSandbox.sandbox_pidns was not applied")
        await rpc.removeQuietly([first, second])
    }
}
