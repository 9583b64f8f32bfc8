import GRPCCore
import KataProtocols
import LinuxKit
import Sandbox
import SwiftProtobuf

// Block-device RPCs: AddSwap (a hot-plugged virtio-blk disk the host formatted as swap) and
// ResizeVolume (grow a mounted block volume's filesystem after the host grew the disk).
extension AgentService {
    var deviceLocator: DeviceLocator { DeviceLocator(hub: UeventHub.current(logger: logger)) }

    func addSwap(request: Grpc_AddSwapRequest, context: ServerContext) async throws -> Google_Protobuf_Empty {
        try await serveRPC("AddSwap", logger: logger) {
            let pciPath = try Self.pciPath(request.pcipath, field: "PCIPath")
            let storage = environment.sandbox.storageContext()
            let node = try await deviceLocator.virtioBlock(pciPath: pciPath, timeout: storage.hotplugTimeout)
            do throws(SyscallError) {
                try storage.files.swapOn(node)
            } catch {
                throw SandboxError(.system, "AddSwap: swapon \(node) (PCI path \(pciPath)): \(error)", errno: error.errno)
            }
            logger.info("swap enabled", metadata: ["device": "\(node)", "pci-path": "\(pciPath)"])
            return Google_Protobuf_Empty()
        }
    }

    func resizeVolume(request: Grpc_ResizeVolumeRequest, context: ServerContext) async throws -> Google_Protobuf_Empty {
        try await serveRPC("ResizeVolume", logger: logger) {
            try RequestValidation.absolutePath(request.volumeGuestPath, field: "volume_guest_path")
            let runner = ReaperCommandRunner(reaper: try pod.engine.reaper)
            _ = try await VolumeResize(runner: runner, paths: deviceLocator.paths)
                .grow(path: request.volumeGuestPath, size: request.size, context: environment.sandbox.storageContext())
            return Google_Protobuf_Empty()
        }
    }

    /// agent.proto's PCIPath slots as the "02/01" text the device layer takes.
    static func pciPath(_ slots: [UInt32], field: String) throws -> String {
        guard !slots.isEmpty, slots.count <= 16 else {
            throw ValidationError(field: field, reason: "must hold 1 to 16 PCI slots, has \(slots.count)")
        }
        var parts: [String] = []
        for slot in slots {
            guard slot <= 0x1f else { throw ValidationError(field: field, reason: "slot \(slot) is above 0x1f") }
            parts.append(slot < 16 ? "0" + String(slot, radix: 16) : String(slot, radix: 16))
        }
        return parts.joined(separator: "/")
    }
}
