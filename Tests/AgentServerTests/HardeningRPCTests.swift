import Foundation
import GRPCCore
import KataProtocols
import XCTest

/// Root tests: request values that used to trap the agent (PID 1: a kernel panic) or answer
/// INTERNAL now answer INVALID_ARGUMENT naming the field, touch nothing, and leave the agent
/// serving; duplicates and aliases of a live container are refused before anything changes.
final class HardeningRPCTests: ContainerRPCTestCase {
    /// Mutates a valid spec into one with a single bad value, and the field the answer must name.
    private struct BadSpec: Sendable {
        let name: String
        let field: String
        let mutate: @Sendable (inout Grpc_Spec) -> Void
    }

    private static let badSpecs: [BadSpec] = [
        BadSpec(name: "hook timeout Int64.max", field: "spec.hooks.prestart[0].timeout") { spec in
            var hook = Grpc_Hook()
            hook.path = "/bin/true"
            hook.timeout = Int64.max
            spec.hooks.prestart = [hook]
        },
        BadSpec(name: "hugepage size overflowing KiB", field: "hugepageLimits[0].pageSize") { spec in
            var limit = Grpc_LinuxHugepageLimit()
            limit.pagesize = "18446744073709551615GB"
            limit.limit = 1
            spec.linux.resources.hugepageLimits = [limit]
        },
        BadSpec(name: "negative hugepage size", field: "hugepageLimits[0].pageSize") { spec in
            var limit = Grpc_LinuxHugepageLimit()
            limit.pagesize = "-2MB"
            spec.linux.resources.hugepageLimits = [limit]
        },
        BadSpec(name: "cpu period above the kernel's maximum", field: "cpu.period") { spec in
            spec.linux.resources.cpu.period = 1_000_001
            spec.linux.resources.cpu.quota = 50_000
        },
        BadSpec(name: "cpus beyond any integer", field: "cpu.cpus") { spec in
            spec.linux.resources.cpu.cpus = "0-99999999999999999999"
        },
        BadSpec(name: "descending cpu range", field: "cpu.cpus") { spec in
            spec.linux.resources.cpu.cpus = "3-1"
        },
        BadSpec(name: "RLIMIT_NOFILE above fs.nr_open", field: "RLIMIT_NOFILE") { spec in
            var limit = Grpc_POSIXRlimit()
            limit.type = "RLIMIT_NOFILE"
            limit.soft = UInt64.max
            limit.hard = UInt64.max
            spec.process.rlimits = [limit]
        },
        BadSpec(name: "device major out of range", field: "spec.linux.devices[0].major") { spec in
            var device = Grpc_LinuxDevice()
            device.path = "/dev/evil"
            device.type = "c"
            device.major = Int64(UInt32.max) + 1
            device.minor = 1
            spec.linux.devices = [device]
        },
        BadSpec(name: "device cgroup minor out of range", field: "devices[0].minor") { spec in
            var rule = Grpc_LinuxDeviceCgroup()
            rule.allow = true
            rule.type = "c"
            rule.major = 1
            rule.minor = Int64.max
            rule.access = "rwm"
            spec.linux.resources.devices = [rule]
        },
    ]

    func testBadValuesAnswerInvalidArgumentAndTheAgentKeepsServing() async throws {
        let agent = try await AgentProcess.start(for: self)
        let rpc = ContainerRPCClient(agent: agent, rootfs: rootfs)
        for bad in Self.badSpecs {
            let id = ContainerRPCClient.uniqueID("bad")
            var spec = rpc.spec(["true"])
            bad.mutate(&spec)
            await assertRPCError(.invalidArgument, containing: bad.field) {
                try await rpc.create(id, spec: spec)
            }
            XCTAssertTrue(agent.isRunning, "the agent died on \(bad.name)")
            XCTAssertFalse(FileManager.default.fileExists(atPath: "/run/kata-containers/\(id)/config.json"), "\(bad.name) left a bundle")
        }
        // The same values through UpdateContainer, on a live container that must survive them.
        let id = ContainerRPCClient.uniqueID("upd")
        try await rpc.run(id, spec: rpc.spec(["sleep", "1000"]))
        for bad in Self.badSpecs where bad.field.contains("pageSize") || bad.field.contains("cpu.") || bad.field.contains("devices[0].minor") {
            var spec = rpc.spec(["true"])
            bad.mutate(&spec)
            var update = Grpc_UpdateContainerRequest()
            update.containerID = id
            update.resources = spec.linux.resources
            await assertRPCError(.invalidArgument, containing: bad.field.replacingOccurrences(of: "spec.linux.", with: "")) {
                try await agent.agentService.updateContainer(update, options: ContainerRPCClient.options)
            }
        }
        let (out, status) = try await rpc.output(id, ["echo", "alive"])
        XCTAssertEqual(status, 0)
        XCTAssertEqual(out, "alive\n")
        try await rpc.remove(id)
    }

    func testDuplicateCreateLeavesTheLiveContainerAndItsBundleAlone() async throws {
        let agent = try await AgentProcess.start(for: self)
        let rpc = ContainerRPCClient(agent: agent, rootfs: rootfs)
        let id = ContainerRPCClient.uniqueID("dup")
        try await rpc.run(id, spec: rpc.spec(["sleep", "1000"], hostname: "first"))
        let configPath = "/run/kata-containers/\(id)/config.json"
        let before = try Data(contentsOf: URL(fileURLWithPath: configPath))

        await assertRPCError(.alreadyExists, containing: id) {
            try await rpc.create(id, spec: rpc.spec(["true"], hostname: "second"))
        }
        let after = try Data(contentsOf: URL(fileURLWithPath: configPath))
        XCTAssertEqual(before, after, "the duplicate rewrote the live container's config.json")
        let (out, status) = try await rpc.output(id, ["hostname"])
        XCTAssertEqual(status, 0)
        XCTAssertEqual(out, "first\n")
        try await rpc.remove(id)
    }

    func testExecIDNamingTheInitIsRefused() async throws {
        let agent = try await AgentProcess.start(for: self)
        let rpc = ContainerRPCClient(agent: agent, rootfs: rootfs)
        let id = ContainerRPCClient.uniqueID("alias")
        try await rpc.run(id, spec: rpc.spec(["sleep", "1000"]))
        await assertRPCError(.invalidArgument, containing: "exec_id") {
            try await rpc.exec(id, id, rpc.process(["true"]))
        }
        // The init is still the one WaitProcess/SignalProcess address by the container id.
        try await rpc.kill(id, id, signal: 9)
        let status = try await rpc.wait(id, id)
        XCTAssertEqual(status, 137)
        try await rpc.remove(id)
    }
}
