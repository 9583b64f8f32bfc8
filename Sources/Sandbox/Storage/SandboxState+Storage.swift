/// The storage side of the sandbox, for the RPC layer (container storages, volume RPCs).
extension SandboxState {
    /// The driver context for `owner` on this sandbox's environment.
    public nonisolated func storageContext(for owner: StorageOwner = .sandbox) -> StorageContext {
        Self.storageContext(environment, owner: owner)
    }

    /// The storage drivers this sandbox serves (GetGuestDetails.storage_handlers).
    public nonisolated var storageDriverNames: [String] { environment.storageDrivers.names }

    static func storageContext(_ environment: SandboxEnvironment, owner: StorageOwner) -> StorageContext {
        var context = StorageContext(
            system: environment.system, files: environment.storageFiles, hotplugTimeout: environment.hotplugTimeout,
            paths: environment.storagePaths, logger: environment.logger)
        if case .container(let id) = owner { context.containerID = id }
        return context
    }
}
