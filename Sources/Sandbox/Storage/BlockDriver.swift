import LinuxKit

/// `blk` (virtio-blk over PCI): the source is either a block node ("/dev/vdb", cold-plugged)
/// used as is, or the disk's PCI path ("02", "02/01") resolved through the bridges in sysfs and
/// awaited as a uevent; then mounted with the request's fstype and options.
public struct BlockDriver: StorageDriver {
    public let names = ["blk", "virtio-blk"]
    let locator: DeviceLocator

    public init(locator: DeviceLocator) {
        self.locator = locator
    }

    public func mount(_ storage: StorageRequest, context: StorageContext) async throws(SandboxError) -> MountedStorage {
        let what = "blk storage \(storage.mountPoint)"
        try BlockStorage.checkDriverOptions(storage, what: what)
        let node: String
        if storage.source.hasPrefix("/") {
            try BlockStorage.requireBlockNode(storage.source, context: context, what: what)
            node = storage.source
        } else {
            node = try await locator.virtioBlock(pciPath: storage.source, timeout: context.hotplugTimeout)
        }
        return try BlockStorage.mount(storage, node: node, context: context, what: what)
    }
}
