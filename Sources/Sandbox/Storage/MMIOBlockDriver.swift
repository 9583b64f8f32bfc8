import LinuxKit

/// `mmioblk` (virtio-blk over virtio-mmio, Firecracker): the source names the node
/// ("/dev/vdb"); awaited when it is not there yet, then mounted.
public struct MMIOBlockDriver: StorageDriver {
    public let names = ["mmioblk", "virtio-mmio"]
    let locator: DeviceLocator

    public init(locator: DeviceLocator) {
        self.locator = locator
    }

    public func mount(_ storage: StorageRequest, context: StorageContext) async throws(SandboxError) -> MountedStorage {
        let what = "mmioblk storage \(storage.mountPoint)"
        try BlockStorage.checkDriverOptions(storage, what: what)
        let node = try await locator.mmioBlock(node: storage.source, timeout: context.hotplugTimeout)
        return try BlockStorage.mount(storage, node: node, context: context, what: what)
    }
}
