import GRPCCore
import KataProtocols
import LinuxKit
import Sandbox
import SwiftProtobuf

// Storage and volume RPCs: validated and converted here, done by Sandbox/Storage.
extension AgentService {
    func getVolumeStats(request: Grpc_VolumeStatsRequest, context: ServerContext) async throws -> Grpc_VolumeStatsResponse {
        try await serveRPC("GetVolumeStats", logger: logger) {
            try RequestValidation.absolutePath(request.volumeGuestPath, field: "volume_guest_path")
            let stats = try VolumeStats.read(request.volumeGuestPath, files: environment.sandbox.storageContext().files)
            func usage(_ value: VolumeStats.Usage, _ unit: Grpc_VolumeUsage.Unit) -> Grpc_VolumeUsage {
                var usage = Grpc_VolumeUsage()
                usage.total = value.total
                usage.available = value.available
                usage.used = value.used
                usage.unit = unit
                return usage
            }
            var response = Grpc_VolumeStatsResponse()
            response.usage = [usage(stats.bytes, .bytes), usage(stats.inodes, .inodes)]
            var condition = Grpc_VolumeCondition()
            condition.abnormal = false
            condition.message = "OK"
            response.volumeCondition = condition
            return response
        }
    }

    /// Sent after every create/start/update by the Go runtime, nearly always with no storages.
    func updateEphemeralMounts(request: Grpc_UpdateEphemeralMountsRequest, context: ServerContext) async throws -> Google_Protobuf_Empty {
        try await serveRPC("UpdateEphemeralMounts", logger: logger) {
            guard !request.storages.isEmpty else { return Google_Protobuf_Empty() }
            for (index, storage) in request.storages.enumerated() {
                try RequestValidation.storage(storage, field: "storages[\(index)]")
            }
            try EphemeralUpdate.apply(request.storages.map(StorageRequest.init), context: environment.sandbox.storageContext())
            return Google_Protobuf_Empty()
        }
    }

    func removeStaleVirtiofsShareMounts(request: Grpc_RemoveStaleVirtiofsShareMountsRequest, context: ServerContext) async throws
        -> Google_Protobuf_Empty
    {
        try await serveRPC("RemoveStaleVirtiofsShareMounts", logger: logger) {
            let visited = try StaleShareMounts.touch(context: environment.sandbox.storageContext())
            logger.debug("share mount points visited", metadata: ["count": "\(visited)"])
            return Google_Protobuf_Empty()
        }
    }

    func addSwapPath(request: Grpc_AddSwapPathRequest, context: ServerContext) async throws -> Google_Protobuf_Empty {
        try await serveRPC("AddSwapPath", logger: logger) {
            try RequestValidation.absolutePath(request.path, field: "path")
            do throws(SyscallError) {
                try environment.sandbox.storageContext().files.swapOn(request.path)
            } catch {
                throw SandboxError(.system, "\(error)", errno: error.errno)
            }
            logger.info("swap enabled", metadata: ["path": "\(request.path)"])
            return Google_Protobuf_Empty()
        }
    }

    func getDiagnosticData(request: Grpc_GetDiagnosticDataRequest, context: ServerContext) async throws -> Grpc_GetDiagnosticDataResponse {
        try await serveRPC("GetDiagnosticData", logger: logger) {
            guard request.logType == "termination_log" else {
                throw ValidationError(field: "log_type", reason: "'\(request.logType)' is not supported (only termination_log)")
            }
            try RequestValidation.id(request.containerID, field: "container_id")
            let spec = try pod.engine.container(request.containerID).spec
            var response = Grpc_GetDiagnosticDataResponse()
            response.data = try TerminationLog.read(
                annotations: spec.annotations ?? [:],
                mounts: (spec.mounts ?? []).map { (destination: $0.destination, source: $0.source ?? "") },
                files: environment.sandbox.storageContext().files, containerID: request.containerID)
            return response
        }
    }
}
