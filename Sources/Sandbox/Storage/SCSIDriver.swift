import LinuxKit

/// `scsi` (virtio-scsi, the Go runtime's default block driver): the source is "<id>:<lun>";
/// the SCSI hosts are asked to scan that target, the disk's uevent awaited, then mounted.
public struct SCSIDriver: StorageDriver {
    public let names = ["scsi", "virtio-scsi"]
    let locator: DeviceLocator

    public init(locator: DeviceLocator) {
        self.locator = locator
    }

    public func mount(_ storage: StorageRequest, context: StorageContext) async throws(SandboxError) -> MountedStorage {
        let what = "scsi storage \(storage.mountPoint)"
        try BlockStorage.checkDriverOptions(storage, what: what)
        let node = try await locator.scsiDisk(address: storage.source, timeout: context.hotplugTimeout)
        return try BlockStorage.mount(storage, node: node, context: context, what: what)
    }
}
