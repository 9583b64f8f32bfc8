import LinuxKit

/// UpdateEphemeralMounts: the Go runtime resizes memory emptyDirs after every resource update
/// with `["remount", "size=<n>M"(, "fsgid=<g>")]`. Each storage must be `ephemeral`; its mount
/// point is created if missing; no options means nothing to do; otherwise it is mounted
/// again with the options minus fsgid (an MS_REMOUNT changing the tmpfs size). An empty list
/// costs nothing.
public enum EphemeralUpdate {
    public static func apply(_ storages: [StorageRequest], context: StorageContext) throws(SandboxError) {
        for storage in storages where storage.driver != "ephemeral" {
            throw SandboxError(.invalidArgument,
                               "storage \(storage.mountPoint): driver \"\(storage.driver)\" cannot be updated; only ephemeral storages can")
        }
        for storage in storages {
            do {
                try context.system.makeDirectory(storage.mountPoint, mode: 0o755)
            } catch {
                throw SandboxError.system("update ephemeral storage: create mount point", error)
            }
            let words = storage.options.flatMap { $0.split(separator: ",").map(String.init) }
                .filter { !$0.hasPrefix(StorageOptions.fsGID + "=") }
            guard !storage.options.isEmpty else { continue }
            let options = ParsedMountOptions.parse(words)
            do {
                try context.system.mount(source: storage.source, target: storage.mountPoint, fsType: storage.fsType,
                                         flags: options.flags, data: options.data)
            } catch {
                throw SandboxError.system("update ephemeral storage \(storage.mountPoint)", error)
            }
            context.logger.info("ephemeral storage updated", metadata: [
                "mount-point": "\(storage.mountPoint)", "options": "\(options.data)", "flags": "\(options.flags.rawValue)",
            ])
        }
    }
}
