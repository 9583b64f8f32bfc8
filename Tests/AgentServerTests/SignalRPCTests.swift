import Foundation
import GRPCCore
import KataProtocols
import XCTest

/// Root tests: SignalProcess as upstream's agent answers it. A SIGTERM the container's init does
/// not handle becomes SIGKILL (a pid namespace's init never takes a default action), and SIGKILL
/// without an exec id (the runtime stopping a container) reaches every process of its cgroup.
final class SignalRPCTests: ContainerRPCTestCase {
    private let namespaces = ContainerRPCClient.goRuntimeNamespaces

    func testSigtermToAnInitWithoutAHandlerStopsIt() async throws {
        let agent = try await AgentProcess.start(for: self)
        let rpc = ContainerRPCClient(agent: agent, rootfs: rootfs)
        let plain = ContainerRPCClient.uniqueID("term-a")
        let trapping = ContainerRPCClient.uniqueID("term-b")
        try await rpc.run(plain, spec: rpc.spec(["sleep", "1000"], namespaces: namespaces))
        try await rpc.run(trapping, spec: rpc.spec(
            ["sh", "-c", "trap 'exit 3' TERM; echo ready; while :; do sleep 1; done"], namespaces: namespaces))
        _ = try await rpc.read(trapping, "", until: "ready")

        // Without the upgrade the wait would run into its deadline: the init ignores SIGTERM.
        try await rpc.kill(plain, signal: 15)
        let killed = try await rpc.wait(plain)
        XCTAssertEqual(killed, 128 + 9)
        // A handler gets the SIGTERM itself.
        try await rpc.kill(trapping, signal: 15)
        let trapped = try await rpc.wait(trapping)
        XCTAssertEqual(trapped, 3)
        await rpc.removeQuietly([plain, trapping])
    }

    func testSigkillWithoutAnExecIDReachesEveryProcessOfTheContainer() async throws {
        let agent = try await AgentProcess.start(for: self)
        let rpc = ContainerRPCClient(agent: agent, rootfs: rootfs)
        let pause = ContainerRPCClient.uniqueID("all-a")
        let app = ContainerRPCClient.uniqueID("all-b")
        try await rpc.run(pause, spec: rpc.spec(["sleep", "1000"], namespaces: namespaces))
        // In the pod's pid namespace, so its init's death alone would leave the child running.
        try await rpc.run(app, spec: rpc.spec(["sh", "-c", "sleep 2000 & echo started; wait"], namespaces: namespaces),
                          sandboxPidns: true)
        _ = try await rpc.read(app, "", until: "started")
        let (before, _) = try await rpc.output(pause, ["ps", "-o", "args"])
        XCTAssertTrue(before.contains("sleep 2000"), before)

        try await rpc.kill(app, signal: 9)
        let status = try await rpc.wait(app)
        XCTAssertEqual(status, 128 + 9)
        // The child was signalled too; it leaves the process list once the kernel ended it.
        let deadline = ContinuousClock.now + .seconds(20)
        var after = before
        while after.contains("sleep 2000") && ContinuousClock.now < deadline {
            after = try await rpc.output(pause, ["ps", "-o", "args"]).0
        }
        XCTAssertFalse(after.contains("sleep 2000"), "the container's child outlived SIGKILL without an exec id: \(after)")
        await rpc.removeQuietly([app, pause])
    }
}
