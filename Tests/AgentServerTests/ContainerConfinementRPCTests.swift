import Foundation
import GRPCCore
import KataProtocols
import XCTest

/// Root tests: what a container gets when the runtime sends what the Kata Go runtime sends (no
/// device rules, no capabilities on an exec): no more than upstream's agent gives it.
final class ContainerConfinementRPCTests: ContainerRPCTestCase {
    override var extraApplets: [String]? { ["sh", "mknod", "head", "grep", "echo"] }

    func testWithoutDeviceRulesOnlyTheDefaultDevicesOpen() async throws {
        let agent = try await AgentProcess.start(for: self)
        let rpc = ContainerRPCClient(agent: agent, rootfs: rootfs)
        let id = ContainerRPCClient.uniqueID("devcg")
        // No resources at all, as the Go runtime sends (Resources.Devices = nil).
        try await rpc.run(id, spec: rpc.spec(["sleep", "1000"], namespaces: ContainerRPCClient.goRuntimeNamespaces))
        // /dev/kmsg (c 1:11) is readable by root in the guest; a container may create the node
        // (mknod is allowed) but must not open it. /dev/null (c 1:3) is on the default list.
        let script = "mknod /dev/probe c 1 11 && (head -c 1 /dev/probe >/dev/null 2>&1 && echo kmsg-opened || echo kmsg-denied);"
            + " mknod /dev/nul c 1 3 && echo x > /dev/nul && echo null-ok"
        let (out, status) = try await rpc.output(id, ["sh", "-c", script])
        XCTAssertEqual(status, 0, out)
        XCTAssertTrue(out.contains("kmsg-denied"), "a container opened a guest device no rule allows: \(out)")
        XCTAssertTrue(out.contains("null-ok"), out)
        await rpc.removeQuietly([id])
    }

    func testAnExecWithoutCapabilitiesGetsTheContainersNotTheAgents() async throws {
        let agent = try await AgentProcess.start(for: self)
        let rpc = ContainerRPCClient(agent: agent, rootfs: rootfs)
        let id = ContainerRPCClient.uniqueID("execcap")
        var spec = rpc.spec(["sleep", "1000"], namespaces: ContainerRPCClient.goRuntimeNamespaces)
        var capabilities = Grpc_LinuxCapabilities()
        for set in [\Grpc_LinuxCapabilities.bounding, \.effective, \.permitted] { capabilities[keyPath: set] = ["CAP_CHOWN"] }
        spec.process.capabilities = capabilities
        try await rpc.run(id, spec: spec)
        // ExecProcess as the runtime sends it: args, env, cwd, no capabilities.
        let (out, status) = try await rpc.output(id, ["grep", "CapEff", "/proc/self/status"])
        XCTAssertEqual(status, 0, out)
        XCTAssertEqual(out.split(separator: "\t").last?.trimmingCharacters(in: .whitespacesAndNewlines), "0000000000000001",
                       "the exec did not get the container's capabilities (CAP_CHOWN only): \(out)")
        await rpc.removeQuietly([id])
    }
}
