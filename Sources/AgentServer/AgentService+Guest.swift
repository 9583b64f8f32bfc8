#if canImport(Glibc)
import Glibc
#endif
import GRPCCore
import KataProtocols
import LinuxKit
import Logging
import Sandbox
import SwiftProtobuf

// Guest-level RPCs: details, clock, entropy, CPU/memory onlining, memory probe, CopyFile, metrics.
// Protobuf is turned into plain values here; the work happens in Sandbox/Guest.
extension AgentService {
    func getGuestDetails(request: Grpc_GuestDetailsRequest, context: ServerContext) async throws -> Grpc_GuestDetailsResponse {
        try await serveRPC("GetGuestDetails", logger: logger) {
            let roots = environment.guestRoots
            let memory = try GuestMemoryInfo.read(
                roots: roots, blockSize: request.memBlockSize, probe: request.memHotplugProbe)
            var details = Grpc_AgentDetails()
            details.version = environment.agentVersion
            details.initDaemon = getpid() == 1
            details.storageHandlers = environment.sandbox.storageDriverNames
            // Devices are handled by the container issue; upstream reports none here either.
            details.deviceHandlers = []
            // libseccomp is linked into this agent, so support depends on the kernel alone.
            details.supportsSeccomp = GuestSeccompSupport.kernelSupportsSeccomp(roots: roots)
            var response = Grpc_GuestDetailsResponse()
            response.memBlockSizeBytes = memory.blockSizeBytes
            response.supportMemHotplugProbe = memory.supportsProbe
            response.agentDetails = details
            return response
        }
    }

    func setGuestDateTime(request: Grpc_SetGuestDateTimeRequest, context: ServerContext) async throws -> Google_Protobuf_Empty {
        try await serveRPC("SetGuestDateTime", logger: logger) {
            try GuestDateTime.set(seconds: request.sec, microseconds: request.usec, clock: environment.clock)
            return Google_Protobuf_Empty()
        }
    }

    func reseedRandomDev(request: Grpc_ReseedRandomDevRequest, context: ServerContext) async throws -> Google_Protobuf_Empty {
        try await serveRPC("ReseedRandomDev", logger: logger) {
            try GuestRandom.reseed(data: Array(request.data), roots: environment.guestRoots, device: environment.randomDevice)
            return Google_Protobuf_Empty()
        }
    }

    func onlineCPUMem(request: Grpc_OnlineCPUMemRequest, context: ServerContext) async throws -> Google_Protobuf_Empty {
        try await serveRPC("OnlineCPUMem", logger: logger) {
            let resources = GuestOnlineResources(roots: environment.guestRoots)
            let nbCPUs = request.nbCpus
            let cpuOnly = request.cpuOnly
            guard nbCPUs <= 8192 else {
                throw ValidationError(field: "nb_cpus", reason: "\(nbCPUs) exceeds the kernel's maximum of 8192 CPUs")
            }
            let pod = try self.pod
            if request.wait {
                let outcome = try await resources.online(nbCPUs: nbCPUs, cpuOnly: cpuOnly)
                logger.info(
                    "onlined resources",
                    metadata: ["cpus_online": "\(outcome.onlineCPUs.map(String.init) ?? "-")",
                               "memory_blocks_onlined": "\(outcome.memoryBlocksOnlined.map(String.init) ?? "-")"])
                if nbCPUs > 0 { Self.refreshCpusets(of: pod, logger: logger) }
            } else {
                // wait=false: the caller does not wait; failures are logged (upstream spawns a thread too).
                let logger = self.logger
                Task {
                    do {
                        _ = try await resources.online(nbCPUs: nbCPUs, cpuOnly: cpuOnly)
                        if nbCPUs > 0 { Self.refreshCpusets(of: pod, logger: logger) }
                    } catch {
                        logger.warning("online cpu/memory in background failed", metadata: ["error": "\(error)"])
                    }
                }
            }
            return Google_Protobuf_Empty()
        }
    }

    func memHotplugByProbe(request: Grpc_MemHotplugByProbeRequest, context: ServerContext) async throws -> Google_Protobuf_Empty {
        try await serveRPC("MemHotplugByProbe", logger: logger) {
            try GuestMemoryProbe.probe(addresses: request.memHotplugProbeAddr, roots: environment.guestRoots)
            return Google_Protobuf_Empty()
        }
    }

    func copyFile(request: Grpc_CopyFileRequest, context: ServerContext) async throws -> Google_Protobuf_Empty {
        try await serveRPC("CopyFile", logger: logger) {
            try RequestValidation.absolutePath(request.path, field: "path")
            // As upstream: only below the share's guest path (the runtime's CONTAINER_BASE).
            let root = environment.guestRoots.run + "/kata-containers/shared/containers"
            do throws(SyscallError) {
                try environment.sandbox.storageContext().system.makeDirectory(root, mode: 0o755)
            } catch {
                throw SandboxError(.system, "copy file: create \(root): \(error)", errno: error.errno)
            }
            let copier = GuestFileCopy(root: root)
            let outcome = try copier.copy(
                GuestFileCopy.Request(
                    path: request.path, fileSize: request.fileSize, fileMode: request.fileMode,
                    dirMode: request.dirMode, uid: request.uid, gid: request.gid, offset: request.offset,
                    data: Array(request.data)))
            logger.debug("copy file", metadata: ["path": "\(request.path)", "outcome": "\(outcome)"])
            return Google_Protobuf_Empty()
        }
    }

    func getMetrics(request: Grpc_GetMetricsRequest, context: ServerContext) async throws -> Grpc_Metrics {
        try await serveRPC("GetMetrics", logger: logger) {
            var response = Grpc_Metrics()
            response.metrics = try environment.metrics.scrape()
            return response
        }
    }

    /// Hot-added CPUs reach the containers already running (v1 cpusets never grow by themselves;
    /// the runtime sends the CPUs after the pod's containers exist). A container that fails is
    /// logged; the others still get theirs.
    static func refreshCpusets(of pod: PodContainers, logger: Logger) {
        for id in pod.engine.containerIDs {
            do {
                try pod.engine.container(id).refreshCpuset()
            } catch {
                logger.warning("cannot give a container the hot-added CPUs", metadata: ["container": "\(id)", "error": "\(error)"])
            }
        }
    }
}
