import LinuxKit

/// Upstream's common storage path (mount_storage + set_ownership), for drivers whose work
/// ends in one mount(2): options parsed to MS_* flags and data, the mount point created, the
/// mount, then fs_group. A failing fs_group unmounts again, so nothing is left behind.
public enum StorageMounter {
    /// The tag the runtimes give the virtio-fs share; a share already mounted there (an image
    /// that pre-mounts it) is used as is.
    public static let sharedFSTag = "kataShared"

    /// Mounts `source` (the request's, or a device node a block driver resolved) at the
    /// request's mount point with the request's fstype and options.
    public static func mount(_ storage: StorageRequest, source: String? = nil, fsType: String? = nil,
                             extraData: [String] = [], context: StorageContext) throws(SandboxError) -> MountedStorage {
        let source = source ?? storage.source
        let fsType = fsType ?? storage.fsType
        if storage.source == sharedFSTag,
           MountTable.isMountPoint(storage.mountPoint, system: context.system, table: context.paths.mountInfo) {
            context.logger.warning("shared filesystem already mounted; used as is", metadata: ["mount-point": "\(storage.mountPoint)"])
            return MountedStorage(driver: storage.driver, mountPoint: storage.mountPoint, isMount: false, source: source, fsType: fsType)
        }
        var options = ParsedMountOptions.parse(storage.options)
        let data = ([options.data] + extraData).filter { !$0.isEmpty }
        options.data = data.joined(separator: ",")
        do {
            try context.system.makeDirectory(storage.mountPoint, mode: 0o755)
        } catch {
            throw SandboxError.system("\(storage.driver) storage: create mount point", error)
        }
        do {
            try context.system.mount(source: source, target: storage.mountPoint, fsType: fsType, flags: options.flags, data: options.data)
        } catch {
            throw SandboxError.system("\(storage.driver) storage \(storage.mountPoint)", error)
        }
        context.logger.info("storage mounted", metadata: [
            "driver": "\(storage.driver)", "source": "\(source)", "mount-point": "\(storage.mountPoint)",
            "fstype": "\(fsType)", "options": "\(options.data)",
        ])
        let mounted = MountedStorage(driver: storage.driver, mountPoint: storage.mountPoint, isMount: true, source: source, fsType: fsType)
        do {
            try applyFSGroup(storage, context: context)
        } catch {
            try? context.system.unmount(target: storage.mountPoint, detach: true)
            throw error
        }
        return mounted
    }

    /// fs_group of the request (if any) on its mount point.
    public static func applyFSGroup(_ storage: StorageRequest, context: StorageContext) throws(SandboxError) {
        guard let group = storage.fsGroup else { return }
        let readOnly = ParsedMountOptions.parse(storage.options).flags.contains(.readOnly)
        let walked = try FSGroupOwnership.apply(group, root: storage.mountPoint, readOnly: readOnly, files: context.files,
                                                system: context.system)
        context.logger.info("fs_group", metadata: [
            "mount-point": "\(storage.mountPoint)", "gid": "\(group.groupID)", "changed": "\(walked)",
        ])
    }
}
