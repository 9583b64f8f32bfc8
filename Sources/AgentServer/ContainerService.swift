import ContainerEngine
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Glibc
import GRPCCore
import KataProtocols
import OCISpec
import Sandbox
import SwiftProtobuf

// Container lifecycle RPCs: validate, convert, call the engine (through the sandbox's pod rules).
extension AgentService {
    var pod: PodContainers {
        get throws { try PodContainers.current(logger: logger) }
    }

    func createContainer(request: Grpc_CreateContainerRequest, context: ServerContext) async throws -> Google_Protobuf_Empty {
        try await serveRPC("CreateContainer", logger: logger) {
            try RequestValidation.id(request.containerID, field: "container_id")
            guard request.hasOci else { throw ValidationError(field: "oci", reason: "the container spec is missing") }
            guard request.oci.hasProcess else { throw ValidationError(field: "oci.process", reason: "is missing") }
            guard !request.oci.process.args.isEmpty else { throw ValidationError(field: "oci.process.args", reason: "must not be empty") }
            guard request.oci.hasRoot, !request.oci.root.path.isEmpty else {
                throw ValidationError(field: "oci.root.path", reason: "must not be empty")
            }
            var spec = OCIConversion.spec(request.oci)
            try RequestValidation.id(request.execID, field: "exec_id", allowEmpty: true)
            try Self.refusePassfdStdio(stdin: request.stdinPort, stdout: request.stdoutPort, stderr: request.stderrPort)
            guard request.sharedMounts.isEmpty else {
                // Silently skipped, the containers would miss the mounts the runtime set up for them.
                throw RPCError(code: .unimplemented, message: "shared_mounts: sharing mounts between containers is not supported by this agent")
            }
            // Devices first, as upstream: the spec gets guest device numbers; they mount nothing,
            // so a later failure has nothing of theirs to undo.
            try await ContainerDeviceRequests.apply(request, to: &spec, logger: logger)
            // Either request may ask for the shared pid namespace (upstream's runtime copies the
            // sandbox's setting into every CreateContainer; a direct client may set only one).
            let sandboxWide = await environment.sandbox.sandboxPidns
            let sandboxPidns = request.sandboxPidns || sandboxWide
            // Storages first: the rootfs may be one of them.
            let storages = try await ContainerStorages.claim(request, sandbox: environment.sandbox)
            let sandbox = environment.sandbox
            let id = request.containerID
            _ = try await pod.create(id: id, spec: spec, sandboxPidns: sandboxPidns) {
                await ContainerStorages.giveBack(storages, sandbox: sandbox)
            }
            if context.cancellation.isCancelled {
                // The caller was answered DEADLINE_EXCEEDED (a slow hook or device) and rolls its
                // side back; a container it does not know of must not keep the id, storages and cgroup.
                try? await pod.remove(id: id, timeout: .seconds(10)) {
                    await ContainerStorages.release(containerID: id, sandbox: sandbox)
                }
                throw RPCError(code: .deadlineExceeded, message: "CreateContainer \(id): the call's deadline passed; the container was removed again")
            }
            ContainerInitExecIDs.record(containerID: request.containerID, execID: request.execID)
            return Google_Protobuf_Empty()
        }
    }

    func startContainer(request: Grpc_StartContainerRequest, context: ServerContext) async throws -> Google_Protobuf_Empty {
        try await serveRPC("StartContainer", logger: logger) {
            try RequestValidation.id(request.containerID, field: "container_id")
            try await pod.engine.container(request.containerID).start()
            return Google_Protobuf_Empty()
        }
    }

    func removeContainer(request: Grpc_RemoveContainerRequest, context: ServerContext) async throws -> Google_Protobuf_Empty {
        try await serveRPC("RemoveContainer", logger: logger) {
            try RequestValidation.id(request.containerID, field: "container_id")
            let timeout: Duration? = request.timeout == 0 ? nil : .seconds(Int64(request.timeout))
            let sandbox = environment.sandbox
            let id = request.containerID
            try await pod.remove(id: id, timeout: timeout) {
                await ContainerStorages.release(containerID: id, sandbox: sandbox)
            }
            ContainerInitExecIDs.forget(containerID: request.containerID)
            return Google_Protobuf_Empty()
        }
    }

    func execProcess(request: Grpc_ExecProcessRequest, context: ServerContext) async throws -> Google_Protobuf_Empty {
        try await serveRPC("ExecProcess", logger: logger) {
            try RequestValidation.id(request.containerID, field: "container_id")
            try RequestValidation.id(request.execID, field: "exec_id")
            guard request.hasProcess else { throw ValidationError(field: "process", reason: "is missing") }
            guard !request.process.args.isEmpty else { throw ValidationError(field: "process.args", reason: "must not be empty") }
            try Self.refusePassfdStdio(stdin: request.stdinPort, stdout: request.stdoutPort, stderr: request.stderrPort)
            // The init answers to the container id (Go runtime) and to its creation exec_id: an
            // exec under either name would alias it in Wait/Signal/Read.
            guard request.execID != request.containerID,
                ContainerInitExecIDs.engineExecID(containerID: request.containerID, execID: request.execID) == request.execID
            else {
                throw ValidationError(field: "exec_id", reason: "'\(request.execID)' names the init process of container \(request.containerID)")
            }
            let container = try pod.engine.container(request.containerID)
            try await container.exec(execID: request.execID, process: OCIConversion.process(request.process))
            return Google_Protobuf_Empty()
        }
    }

    /// Stdio over passfd vsock streams (runtime-rs with dragonball's use_passfd_io) needs the
    /// passfd listener, which this agent does not have: the process's I/O would never arrive.
    private static func refusePassfdStdio(stdin: UInt32, stdout: UInt32, stderr: UInt32) throws {
        for (field, port) in [("stdin_port", stdin), ("stdout_port", stdout), ("stderr_port", stderr)] where port != 0 {
            throw RPCError(code: .unimplemented, message: "\(field): passfd stdio is not supported by this agent; use ReadStdout/WriteStdin (port \(port))")
        }
    }

    func signalProcess(request: Grpc_SignalProcessRequest, context: ServerContext) async throws -> Google_Protobuf_Empty {
        try await serveRPC("SignalProcess", logger: logger) {
            try RequestValidation.id(request.containerID, field: "container_id")
            try RequestValidation.id(request.execID, field: "exec_id", allowEmpty: true)
            guard request.signal > 0 && request.signal < 65 else {
                throw ValidationError(field: "signal", reason: "\(request.signal) is not a signal number (1...64)")
            }
            let container = try pod.engine.container(request.containerID)
            // No exec id and SIGKILL (the runtime stopping a container): every process of its
            // cgroup, as upstream.
            if request.execID.isEmpty && request.signal == UInt32(SIGKILL) {
                try container.killAll(signal: SIGKILL)
                return Google_Protobuf_Empty()
            }
            let execID = ContainerInitExecIDs.engineExecID(containerID: request.containerID, execID: request.execID)
            var signal = Int32(request.signal)
            // As upstream: the init of a pid namespace never takes a signal's default action, so
            // a SIGTERM it does not handle would leave the pod waiting out its grace period.
            if execID.isEmpty && signal == SIGTERM {
                if !(try container.handles(SIGTERM)) { signal = SIGKILL }
            }
            try container.kill(execID: execID, signal: signal)
            return Google_Protobuf_Empty()
        }
    }

    func waitProcess(request: Grpc_WaitProcessRequest, context: ServerContext) async throws -> Grpc_WaitProcessResponse {
        try await serveRPC("WaitProcess", logger: logger) {
            try RequestValidation.id(request.containerID, field: "container_id")
            try RequestValidation.id(request.execID, field: "exec_id", allowEmpty: true)
            let container = try pod.engine.container(request.containerID)
            var response = Grpc_WaitProcessResponse()
            response.status = try await container.wait(
                execID: ContainerInitExecIDs.engineExecID(containerID: request.containerID, execID: request.execID))
            return response
        }
    }

    func pauseContainer(request: Grpc_PauseContainerRequest, context: ServerContext) async throws -> Google_Protobuf_Empty {
        try await serveRPC("PauseContainer", logger: logger) {
            try RequestValidation.id(request.containerID, field: "container_id")
            try pod.engine.container(request.containerID).pause()
            return Google_Protobuf_Empty()
        }
    }

    func resumeContainer(request: Grpc_ResumeContainerRequest, context: ServerContext) async throws -> Google_Protobuf_Empty {
        try await serveRPC("ResumeContainer", logger: logger) {
            try RequestValidation.id(request.containerID, field: "container_id")
            try pod.engine.container(request.containerID).resume()
            return Google_Protobuf_Empty()
        }
    }

    func updateContainer(request: Grpc_UpdateContainerRequest, context: ServerContext) async throws -> Google_Protobuf_Empty {
        try await serveRPC("UpdateContainer", logger: logger) {
            try RequestValidation.id(request.containerID, field: "container_id")
            guard request.hasResources else { throw ValidationError(field: "resources", reason: "is missing") }
            try pod.engine.container(request.containerID).update(resources: OCIConversion.resources(request.resources))
            return Google_Protobuf_Empty()
        }
    }
}
