import LinuxKit

/// What the block storage drivers share: driver options they refuse, the node check of a
/// cold-plugged "/dev/..." source, the mount itself (StorageMounter, so fs_group and the
/// undo-on-failure behave as for every other driver), and the registration of all four.
enum BlockStorage {
    /// Upstream's block driver options. Neither is served: formatting needs mkfs in the guest
    /// image and encryption needs confidential-data-hub; refusing by name beats mounting an
    /// unformatted or unencrypted disk.
    static func checkDriverOptions(_ storage: StorageRequest, what: String) throws(SandboxError) {
        for option in storage.driverOptions {
            if option == "create_filesystem" || option.hasPrefix("encryption_key=") {
                let name = option.split(separator: "=").first.map(String.init) ?? option
                throw SandboxError(.unimplemented, "\(what): driver option \(name) is not supported by this agent")
            }
        }
    }

    /// A source that must already be a block device node.
    static func requireBlockNode(_ path: String, context: StorageContext, what: String) throws(SandboxError) {
        guard let status = context.files.status(path, followLinks: true) else {
            throw SandboxError(.invalidArgument, "\(what): source \(path) does not exist")
        }
        guard status.kind == .block else {
            throw SandboxError(.invalidArgument, "\(what): source \(path) is not a block device")
        }
    }

    static func mount(_ storage: StorageRequest, node: String, context: StorageContext, what: String) throws(SandboxError) -> MountedStorage {
        guard !storage.fsType.isEmpty else {
            throw SandboxError(.invalidArgument, "\(what): fstype must name the filesystem on \(node)")
        }
        context.logger.info("block device found", metadata: ["driver": "\(storage.driver)", "source": "\(storage.source)", "node": "\(node)"])
        return try StorageMounter.mount(storage, source: node, context: context)
    }
}

extension StorageDriverRegistry {
    /// Registers blk, mmioblk, scsi and nvdimm, which find their devices through `locator`.
    public mutating func registerBlockDrivers(locator: DeviceLocator) {
        register(BlockDriver(locator: locator))
        register(MMIOBlockDriver(locator: locator))
        register(SCSIDriver(locator: locator))
        register(NVDIMMDriver(locator: locator))
    }
}
