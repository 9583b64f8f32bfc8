/// The storage drivers the agent serves, by agent.proto driver name. Built at agent start
/// (`StorageDriverRegistry.standard`, then each area registers its drivers); reported by
/// GetGuestDetails.storage_handlers.
public struct StorageDriverRegistry: Sendable {
    private var drivers: [String: any StorageDriver] = [:]

    /// Driver names upstream's runtimes can send that this agent does not serve: refused as
    /// UNIMPLEMENTED (any other name is INVALID_ARGUMENT). Upstream's agent has no 9p handler
    /// at all; the others need confidential-data-hub, dm-verity layering or s390x.
    public static let knownUnsupported: Set<String> = [
        "9p", "image_guest_pull", "erofs.multi-layer", "blk-ccw", "blk", "virtio-blk", "mmioblk",
        "virtio-mmio", "scsi", "virtio-scsi", "nvdimm", "pmem",
    ]

    /// This area's filesystem drivers (block drivers are registered beside them at agent start).
    public static func standard() -> StorageDriverRegistry {
        StorageDriverRegistry([VirtioFSDriver(), OverlayFSDriver(), EphemeralDriver(), LocalDriver(), WatchableBindDriver()])
    }

    public init(_ drivers: [any StorageDriver] = []) {
        for driver in drivers { register(driver) }
    }

    /// Adds a driver under each of its names; a later registration of a name replaces the earlier.
    public mutating func register(_ driver: any StorageDriver) {
        for name in driver.names { drivers[name] = driver }
    }

    /// The driver serving `name`, or the error that names it (nothing is mounted then).
    public func driver(for storage: StorageRequest) throws(SandboxError) -> any StorageDriver {
        if let driver = drivers[storage.driver] { return driver }
        let served = names.joined(separator: ", ")
        if Self.knownUnsupported.contains(storage.driver) {
            throw SandboxError(.unimplemented,
                               "storage driver \"\(storage.driver)\" (mount point \(storage.mountPoint)) is not supported by this agent; supported: \(served)")
        }
        throw SandboxError(.invalidArgument,
                           "storage driver \"\(storage.driver)\" (mount point \(storage.mountPoint)) is unknown; supported: \(served)")
    }

    public func contains(_ name: String) -> Bool { drivers[name] != nil }

    /// Every served driver name, sorted.
    public var names: [String] { drivers.keys.sorted() }
}
