import LinuxKit

/// `virtio-fs`: the host's shared directory (tag `kataShared`), `mount -t virtiofs TAG MP`.
/// No device wait: the tag exists from boot (the virtio-fs module must be loaded; the image
/// or CreateSandbox.kernel_modules does that). A share an image already mounted is used as is.
public struct VirtioFSDriver: StorageDriver {
    public let names = ["virtio-fs"]

    public init() {}

    public func mount(_ storage: StorageRequest, context: StorageContext) async throws(SandboxError) -> MountedStorage {
        guard !storage.source.isEmpty else {
            throw SandboxError(.invalidArgument, "virtio-fs storage \(storage.mountPoint): source (the share's tag) is empty")
        }
        let fsType = storage.fsType.isEmpty ? "virtiofs" : storage.fsType
        guard fsType == "virtiofs" else {
            throw SandboxError(.invalidArgument, "virtio-fs storage \(storage.mountPoint): fstype \"\(fsType)\" is not virtiofs")
        }
        return try StorageMounter.mount(storage, fsType: fsType, context: context)
    }
}
