import Glibc
import LinuxKit

/// `local`: a plain directory containers share (guest emptyDir, hugepage emptyDir); nothing is
/// mounted. Options `mode=<octal>` and `fsgid=<gid>` (upstream's local handler: the group is
/// set first, and the mode then also gets setgid so new files inherit it).
public struct LocalDriver: StorageDriver {
    public let names = ["local"]

    public init() {}

    public func mount(_ storage: StorageRequest, context: StorageContext) async throws(SandboxError) -> MountedStorage {
        try prepare(storage, context: context)
    }

    /// The work of `mount`, synchronously (it never waits).
    public func prepare(_ storage: StorageRequest, context: StorageContext) throws(SandboxError) -> MountedStorage {
        let options = try StorageOptions.keyValues(storage.options, what: "local storage \(storage.mountPoint)")
        var mode: mode_t?
        if let text = options["mode"] {
            guard let value = mode_t(text, radix: 8), value <= 0o7777 else {
                throw SandboxError(.invalidArgument, "local storage \(storage.mountPoint): mode \"\(text)\" is not an octal permission")
            }
            mode = value
        }
        let gid = try options["fsgid"].map { (text) throws(SandboxError) -> UInt32 in
            try StorageOptions.groupID(text, what: "local storage \(storage.mountPoint)")
        }
        do {
            try context.system.makeDirectory(storage.mountPoint, mode: 0o755)
            if let gid { try context.files.changeOwner(storage.mountPoint, uid: nil, gid: gid) }
            if var mode {
                if gid != nil { mode |= FSGroupOwnership.setgid }
                // mkdir applies the umask; the requested mode is what containers must see.
                try context.files.changeMode(storage.mountPoint, mode: mode)
            }
        } catch {
            throw SandboxError.system("local storage \(storage.mountPoint)", error)
        }
        return MountedStorage(driver: storage.driver, mountPoint: storage.mountPoint, isMount: false, source: storage.source, fsType: "local")
    }
}
