import Foundation
import GRPCCore
import KataProtocols
import XCTest

/// Root test: OnlineCPUMem gives running containers the CPUs that came online, as upstream's
/// agent re-applies their cpusets (a v1 cpuset never grows by itself). A hot-add is simulated:
/// the container's cpuset is narrowed to CPU 0 first, as it was created before more came online.
final class CpusetRefreshRPCTests: ContainerRPCTestCase {
    private let cpusetMount = "/sys/fs/cgroup/cpuset"

    func testOnlineCPUMemWidensTheCpusetsOfRunningContainers() async throws {
        let all = try String(contentsOfFile: cpusetMount + "/cpuset.cpus", encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        guard ProcessInfo.processInfo.activeProcessorCount > 1, all != "0" else {
            throw XCTSkip("needs a v1 cpuset hierarchy at \(cpusetMount) and two CPUs")
        }
        let agent = try await AgentProcess.start(for: self)
        let rpc = ContainerRPCClient(agent: agent, rootfs: rootfs)
        let id = ContainerRPCClient.uniqueID("cpuset")
        try await rpc.run(id, spec: rpc.spec(["sleep", "1000"]))
        let (cgroups, _) = try await rpc.output(id, ["cat", "/proc/1/cgroup"])
        let line = try XCTUnwrap(cgroups.split(separator: "\n").first { $0.split(separator: ":").dropFirst().first?.split(separator: ",").contains("cpuset") ?? false })
        let directory = cpusetMount + String(try XCTUnwrap(line.split(separator: ":", maxSplits: 2).last))
        try "0".write(toFile: directory + "/cpuset.cpus", atomically: false, encoding: .utf8)

        var request = Grpc_OnlineCPUMemRequest()
        request.nbCpus = UInt32(ProcessInfo.processInfo.activeProcessorCount)
        request.cpuOnly = true
        request.wait = true
        _ = try await agent.agentService.onlineCPUMem(request, options: ContainerRPCClient.options)
        let now = try String(contentsOfFile: directory + "/cpuset.cpus", encoding: .utf8)
        XCTAssertEqual(now.trimmingCharacters(in: .whitespacesAndNewlines), all, "the container kept its narrowed cpuset")
        await rpc.removeQuietly([id])
    }
}
