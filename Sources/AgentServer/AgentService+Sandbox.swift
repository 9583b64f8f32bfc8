import GRPCCore
import KataProtocols
import Sandbox
import SwiftProtobuf

// Sandbox-level RPCs: validated, converted to the Sandbox domain's plain values, then run by
// SandboxState (agent-core), which does the work and owns the state.
extension AgentService {
    func createSandbox(request: Grpc_CreateSandboxRequest, context: ServerContext) async throws -> Google_Protobuf_Empty {
        try await serveRPC("CreateSandbox", logger: logger) {
            try RequestValidation.createSandbox(request)
            try await environment.sandbox.create(CreateSandboxRequest(request))
            return Google_Protobuf_Empty()
        }
    }

    /// Ends the containers and unmounts the sandbox storages; the agent's main loop then stops
    /// serving (and, as PID 1, powers off) once this reply is on its way.
    func destroySandbox(request: Grpc_DestroySandboxRequest, context: ServerContext) async throws -> Google_Protobuf_Empty {
        try await serveRPC("DestroySandbox", logger: logger) {
            await environment.sandbox.destroy()
            return Google_Protobuf_Empty()
        }
    }
}

extension CreateSandboxRequest {
    /// The protobuf message as plain values (validated before).
    init(_ message: Grpc_CreateSandboxRequest) {
        self.init(
            hostname: message.hostname, dns: message.dns, storages: message.storages.map(StorageRequest.init),
            sandboxPidns: message.sandboxPidns, sandboxID: message.sandboxID, guestHookPath: message.guestHookPath,
            kernelModules: message.kernelModules.map { KernelModuleRequest(name: $0.name, parameters: $0.parameters) })
    }
}

extension StorageRequest {
    /// One protobuf Storage as plain values; shared with the container group (CreateContainer's storages).
    /// The mount point loses its trailing '/', so "/x/" and "/x" share one reference count.
    init(_ message: Grpc_Storage) {
        self.init(
            driver: message.driver, driverOptions: message.driverOptions, source: message.source,
            fsType: message.fstype, options: message.options,
            mountPoint: RequestValidation.withoutTrailingSlash(message.mountPoint),
            fsGroup: message.hasFsGroup
                ? FSGroup(groupID: message.fsGroup.groupID,
                          changePolicy: message.fsGroup.groupChangePolicy == .onRootMismatch ? .onRootMismatch : .always)
                : nil)
    }
}
