import LinuxKit

/// `overlayfs`: an overlay mount from the request's lowerdir/upperdir/workdir options. The
/// option `io.katacontainers.fs-opt.overlay-rw` asks for a writable layer the agent owns:
/// /run/kata-containers/<cid>/upper and work are created and appended. Driver options
/// `io.katacontainers.volume.overlayfs.create_directory=<dir>` are directories to create
/// first (an upper directory on a freshly formatted rw layer).
public struct OverlayFSDriver: StorageDriver {
    public let names = ["overlayfs"]
    public static let overlayRWOption = "io.katacontainers.fs-opt.overlay-rw"
    public static let createDirectoryOption = "io.katacontainers.volume.overlayfs.create_directory="

    public init() {}

    public func mount(_ storage: StorageRequest, context: StorageContext) async throws(SandboxError) -> MountedStorage {
        let what = "overlayfs storage \(storage.mountPoint)"
        var request = storage
        request.fsType = "overlay"
        if request.source.isEmpty { request.source = "overlay" }
        // Kata's own option words are instructions to the agent, never mount data.
        let words = storage.options.flatMap { $0.split(separator: ",").map(String.init) }
        request.options = words.filter { !$0.hasPrefix("io.katacontainers.") }

        var directories: [String] = []
        for option in storage.driverOptions where option.hasPrefix(Self.createDirectoryOption) {
            let path = String(option.dropFirst(Self.createDirectoryOption.count))
            try Self.checkAbsolute(path, field: "driver option create_directory", what: what)
            directories.append(path)
        }
        if words.contains(Self.overlayRWOption) {
            guard let cid = context.containerID else {
                throw SandboxError(.invalidArgument, "\(what): \(Self.overlayRWOption) needs a container (it is not a sandbox storage)")
            }
            let base = context.paths.kataRun + "/" + cid
            directories += [base + "/upper", base + "/work"]
            request.options += ["upperdir=\(base)/upper", "workdir=\(base)/work"]
        }
        guard request.options.contains(where: { $0.hasPrefix("lowerdir=") }) else {
            throw SandboxError(.invalidArgument, "\(what): options have no lowerdir=")
        }
        for directory in directories {
            do {
                try context.system.makeDirectory(directory, mode: 0o755)
            } catch {
                throw SandboxError.system(what + ": create directory", error)
            }
        }
        return try StorageMounter.mount(request, context: context)
    }

    static func checkAbsolute(_ path: String, field: String, what: String) throws(SandboxError) {
        let components = path.split(separator: "/", omittingEmptySubsequences: false)
        guard path.hasPrefix("/"), path != "/", !components.dropFirst().contains(where: { $0 == "." || $0 == ".." }) else {
            throw SandboxError(.invalidArgument, "\(what): \(field) \"\(path)\" must be an absolute path without . or ..")
        }
    }
}
