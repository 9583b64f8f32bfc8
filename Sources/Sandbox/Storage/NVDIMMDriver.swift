import LinuxKit

/// `nvdimm` (virtio-pmem / ACPI NFIT namespaces): the source is "/dev/pmem<N>"; awaited
/// below /devices/LNXSYSTM… when not there yet, then mounted (the Go runtime adds the `dax`
/// option, passed to the filesystem as data).
public struct NVDIMMDriver: StorageDriver {
    public let names = ["nvdimm", "pmem"]
    let locator: DeviceLocator

    public init(locator: DeviceLocator) {
        self.locator = locator
    }

    public func mount(_ storage: StorageRequest, context: StorageContext) async throws(SandboxError) -> MountedStorage {
        let what = "nvdimm storage \(storage.mountPoint)"
        try BlockStorage.checkDriverOptions(storage, what: what)
        let node = try await locator.pmem(node: storage.source, timeout: context.hotplugTimeout)
        return try BlockStorage.mount(storage, node: node, context: context, what: what)
    }
}
