import Foundation
import GRPCCore
import KataProtocols
import XCTest

/// The block-device RPCs through the real agent: bad requests name their field, a device or
/// disk that is not there fails after agent.hotplug_timeout naming what was awaited, and the
/// agent keeps serving.
final class BlockDeviceRPCTests: XCTestCase {
    private func createRequest(_ id: String, devices: [Grpc_Device] = [], storages: [Grpc_Storage] = []) -> Grpc_CreateContainerRequest {
        var request = Grpc_CreateContainerRequest()
        request.containerID = id
        request.execID = id
        request.oci = ContainerRPCClient.spec(["/bin/true"], rootfs: "/nonexistent-rootfs")
        request.devices = devices
        request.storages = storages
        return request
    }

    private func device(_ type: String, id: String = "", vmPath: String = "", containerPath: String = "/dev/xda") -> Grpc_Device {
        var device = Grpc_Device()
        device.type = type
        device.id = id
        device.vmPath = vmPath
        device.containerPath = containerPath
        return device
    }

    /// An agent whose hot-plug waits end after 300 ms (config file: the agent is not PID 1 here).
    private func startAgent() async throws -> AgentProcess {
        let directory = NSTemporaryDirectory() + "kata-blockdev-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: directory) }
        let config = directory + "/agent.toml"
        try "hotplug_timeout = { secs = 0, nanos = 300000000 }\n".write(toFile: config, atomically: true, encoding: .utf8)
        return try await AgentProcess.start(for: self, arguments: ["--config", config])
    }

    func testBadDevicesNameTheFieldBeforeAnyWait() async throws {
        let agent = try await startAgent()
        let options = AgentProcess.callOptions()
        let cases: [(Grpc_Device, String)] = [
            (device("", id: "02"), "devices[0].type"),
            (device("blk"), "devices[0].id"),
            (device("blk", id: "02", containerPath: ""), "devices[0].container_path"),
            (device("floppy", id: "02"), "\"floppy\""),
            (device("blk", id: "zz/01"), "PCI path \"zz/01\""),
            (device("scsi", id: "1-2"), "SCSI address \"1-2\""),
        ]
        for (bad, field) in cases {
            await assertRPCError(.invalidArgument, containing: field) {
                try await agent.agentService.createContainer(self.createRequest("dev-bad", devices: [bad]), options: options)
            }
        }
        await agent.assertServing()
    }

    func testDeviceThatNeverAppearsFailsAfterTheTimeoutNamingIt() async throws {
        let agent = try await startAgent()
        let options = AgentProcess.callOptions()
        // Slot 1e of the root bus: nothing there on any machine this runs on, and no bridge to follow.
        await assertRPCError(.internalError, containing: "virtio-blk disk at PCI path 1e") {
            try await agent.agentService.createContainer(self.createRequest("dev-late", devices: [self.device("blk", id: "1e")]),
                                                         options: options)
        }
        await agent.assertServing()
    }

    func testAddSwapAndResizeVolumeValidateTheirFields() async throws {
        let agent = try await startAgent()
        let options = AgentProcess.callOptions()
        var swap = Grpc_AddSwapRequest()
        await assertRPCError(.invalidArgument, containing: "PCIPath") {
            try await agent.agentService.addSwap(swap, options: options)
        }
        swap.pcipath = [0x20]
        await assertRPCError(.invalidArgument, containing: "PCIPath") {
            try await agent.agentService.addSwap(swap, options: options)
        }
        swap.pcipath = [0x1e]
        await assertRPCError(.internalError, containing: "virtio-blk disk at PCI path 1e") {
            try await agent.agentService.addSwap(swap, options: options)
        }
        var resize = Grpc_ResizeVolumeRequest()
        resize.volumeGuestPath = "relative/path"
        await assertRPCError(.invalidArgument, containing: "volume_guest_path") {
            try await agent.agentService.resizeVolume(resize, options: options)
        }
        resize.volumeGuestPath = "/nonexistent-volume-\(getpid())"
        await assertRPCError(.invalidArgument, containing: "no filesystem is mounted") {
            try await agent.agentService.resizeVolume(resize, options: options)
        }
        await agent.assertServing()
    }
}
