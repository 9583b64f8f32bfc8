import Glibc
import LinuxKit

/// A storage the sandbox set up, kept for DestroySandbox.
public struct MountedStorage: Sendable, Equatable {
    public var driver: String
    public var mountPoint: String
    /// Whether DestroySandbox must unmount it (ephemeral) or it is a plain directory (local).
    public var isMount: Bool
}

/// The storage drivers of CreateSandbox: `local` and `ephemeral`; others are refused by name.
enum SandboxStorage {
    static let supportedDrivers = ["local", "ephemeral"]

    static func add(_ storage: StorageRequest, system: any SystemCalls) throws(SandboxError) -> MountedStorage {
        try validateMountPoint(storage.mountPoint)
        switch storage.driver {
        case "local":
            return try addLocal(storage, system: system)
        case "ephemeral":
            return try addEphemeral(storage, system: system)
        default:
            throw SandboxError(.unimplemented,
                               "storage driver \"\(storage.driver)\" (mount point \(storage.mountPoint)) is not supported yet; supported: \(supportedDrivers.joined(separator: ", "))")
        }
    }

    /// A directory for containers to share; options may carry `mode=<octal>` (upstream's
    /// local handler).
    static func addLocal(_ storage: StorageRequest, system: any SystemCalls) throws(SandboxError) -> MountedStorage {
        var mode: mode_t = 0o755
        for option in storage.options where option.hasPrefix("mode=") {
            let text = option.dropFirst("mode=".count)
            guard let value = mode_t(text, radix: 8), value <= 0o7777 else {
                throw SandboxError(.invalidArgument, "local storage \(storage.mountPoint): mode \"\(text)\" is not an octal permission")
            }
            mode = value
        }
        do {
            try system.makeDirectory(storage.mountPoint, mode: mode)
            // mkdir applies the umask; the requested mode is what containers must see.
            try system.setPermissions(storage.mountPoint, mode: mode)
        } catch {
            throw SandboxError.system("local storage \(storage.mountPoint)", error)
        }
        return MountedStorage(driver: "local", mountPoint: storage.mountPoint, isMount: false)
    }

    /// A tmpfs at the mount point, with the request's options (size=, mode=, nosuid...).
    static func addEphemeral(_ storage: StorageRequest, system: any SystemCalls) throws(SandboxError) -> MountedStorage {
        let options = ParsedMountOptions.parse(storage.options)
        let fsType = storage.fsType.isEmpty ? "tmpfs" : storage.fsType
        guard fsType == "tmpfs" else {
            throw SandboxError(.invalidArgument, "ephemeral storage \(storage.mountPoint): fstype \"\(fsType)\" is not tmpfs")
        }
        do {
            try system.makeDirectory(storage.mountPoint, mode: 0o755)
            try system.mount(source: storage.source.isEmpty ? "tmpfs" : storage.source, target: storage.mountPoint,
                             fsType: fsType, flags: options.flags, data: options.data)
        } catch {
            throw SandboxError.system("ephemeral storage \(storage.mountPoint)", error)
        }
        return MountedStorage(driver: "ephemeral", mountPoint: storage.mountPoint, isMount: true)
    }

    static func validateMountPoint(_ path: String) throws(SandboxError) {
        let components = path.split(separator: "/", omittingEmptySubsequences: false)
        guard path.hasPrefix("/"), path != "/", !path.utf8.contains(0),
              !components.dropFirst().contains(where: { $0 == "" || $0 == "." || $0 == ".." }) else {
            throw SandboxError(.invalidArgument, "storage mount point \"\(path)\" must be an absolute, clean path other than /")
        }
    }
}
