import KataProtocols
import Sandbox

// CreateContainer.storages: set up before the container (its rootfs may be one of them),
// released when it is removed or when its creation fails.
enum ContainerStorages {
    /// Validates and sets up the request's storages for its container; nil when it has none.
    static func claim(_ request: Grpc_CreateContainerRequest, sandbox: SandboxState) async throws -> StorageClaim? {
        guard !request.storages.isEmpty else { return nil }
        for (index, storage) in request.storages.enumerated() {
            try RequestValidation.storage(storage, field: "storages[\(index)]")
        }
        return try await sandbox.storageManager.claim(
            request.storages.map(StorageRequest.init), owner: .container(request.containerID))
    }

    /// Undoes a claim whose container was not created.
    static func giveBack(_ claim: StorageClaim?, sandbox: SandboxState) async {
        guard let claim else { return }
        await sandbox.storageManager.release(claim)
    }

    /// RemoveContainer: the container's storages; the last user of each undoes it.
    static func release(containerID: String, sandbox: SandboxState) async {
        await sandbox.storageManager.release(owner: .container(containerID))
    }
}
