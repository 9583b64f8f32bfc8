import LinuxKit

/// `ephemeral`: memory-backed volumes. tmpfs (sandbox shm, memory emptyDirs) is mounted WITH
/// the request's options (upstream drops them all, so its shm has no size limit and is
/// executable); `fsgid=<gid>` is not a mount option but sets the group and setgid on the root.
/// hugetlbfs first reserves nr_hugepages = size / pagesize in sysfs, checks the kernel
/// granted them, then mounts.
///
/// Kept for the pod: the runtime removes a container as soon as its process exits, and a memory
/// emptyDir must survive that (Kubernetes keeps emptyDir data across container restarts).
/// Upstream's agent mounts a fresh tmpfs over the old one instead, losing the data.
public struct EphemeralDriver: StorageDriver {
    public let names = ["ephemeral"]
    public var keptForPod: Bool { true }

    public init() {}

    public func mount(_ storage: StorageRequest, context: StorageContext) async throws(SandboxError) -> MountedStorage {
        switch storage.fsType {
        case "hugetlbfs":
            return try mountHugetlbfs(storage, context: context)
        case "tmpfs", "":
            return try mountTmpfs(storage, context: context)
        default:
            throw SandboxError(.invalidArgument, "ephemeral storage \(storage.mountPoint): fstype \"\(storage.fsType)\" is neither tmpfs nor hugetlbfs")
        }
    }

    func mountTmpfs(_ storage: StorageRequest, context: StorageContext) throws(SandboxError) -> MountedStorage {
        let what = "ephemeral storage \(storage.mountPoint)"
        var gid: UInt32?
        var options: [String] = []
        for word in storage.options.flatMap({ $0.split(separator: ",") }).map(String.init) {
            if word.hasPrefix(StorageOptions.fsGID + "=") {
                gid = try StorageOptions.groupID(String(word.dropFirst(StorageOptions.fsGID.count + 1)), what: what)
            } else {
                options.append(word)
            }
        }
        var request = storage
        request.options = options
        request.fsType = "tmpfs"
        if request.source.isEmpty { request.source = "tmpfs" }
        let mounted = try StorageMounter.mount(request, context: context)
        if let gid {
            do {
                try context.files.changeOwner(storage.mountPoint, uid: nil, gid: gid)
                let mode = context.files.status(storage.mountPoint, followLinks: true)?.permissions ?? 0o755
                try context.files.changeMode(storage.mountPoint, mode: mode | FSGroupOwnership.setgid)
            } catch {
                try? context.system.unmount(target: storage.mountPoint, detach: true)
                throw SandboxError.system(what + ": fsgid \(gid)", error)
            }
        }
        return MountedStorage(driver: storage.driver, mountPoint: mounted.mountPoint, isMount: mounted.isMount,
                              source: mounted.source, fsType: mounted.fsType)
    }

    func mountHugetlbfs(_ storage: StorageRequest, context: StorageContext) throws(SandboxError) -> MountedStorage {
        let what = "hugetlbfs storage \(storage.mountPoint)"
        let sizes = try HugePages.parse(storage.options, what: what)
        try HugePages.reserve(sizes, hugepagesRoot: context.paths.hugepages, system: context.system, what: what)
        context.logger.info("hugepages reserved", metadata: [
            "pagesize": "\(sizes.pageSize)", "pages": "\(sizes.pages)", "mount-point": "\(storage.mountPoint)",
        ])
        var request = storage
        if request.source.isEmpty { request.source = "nodev" }
        return try StorageMounter.mount(request, context: context)
    }
}

/// hugetlbfs sizes: "pagesize=<bytes>,size=<bytes>" (units allowed) and the sysfs pool they need.
struct HugePages: Equatable {
    var pageSize: UInt64
    var size: UInt64
    var pages: UInt64 { size / pageSize }

    static func parse(_ options: [String], what: String) throws(SandboxError) -> HugePages {
        var pageSizeText: String?
        var sizeText: String?
        for word in options.flatMap({ $0.split(separator: ",") }) {
            if word.hasPrefix("pagesize=") { pageSizeText = String(word.dropFirst("pagesize=".count)) }
            else if word.hasPrefix("size=") { sizeText = String(word.dropFirst("size=".count)) }
        }
        guard let pageSizeText, let sizeText else {
            throw SandboxError(.invalidArgument, "\(what): options need both pagesize= and size= (got \(options))")
        }
        let pageSize = try StorageOptions.byteCount(pageSizeText, field: "pagesize", what: what)
        let size = try StorageOptions.byteCount(sizeText, field: "size", what: what)
        // The kernel's page sizes are powers of two of at least 4 KiB; sysfs names them in kB.
        guard pageSize >= 4096, pageSize & (pageSize - 1) == 0 else {
            throw SandboxError(.invalidArgument, "\(what): pagesize \(pageSize) is not a power of two of at least 4096 bytes")
        }
        guard size >= pageSize else {
            throw SandboxError(.invalidArgument, "\(what): size \(size) is smaller than one page of \(pageSize) bytes")
        }
        return HugePages(pageSize: pageSize, size: size)
    }

    /// Writes the pool size and reads it back: the kernel may grant fewer pages than asked.
    static func reserve(_ sizes: HugePages, hugepagesRoot: String, system: any SystemCalls, what: String) throws(SandboxError) {
        let file = "\(hugepagesRoot)/hugepages-\(sizes.pageSize / 1024)kB/nr_hugepages"
        guard system.fileExists(file) else {
            throw SandboxError(.invalidArgument, "\(what): the kernel has no \(sizes.pageSize)-byte huge pages (\(file) is missing)")
        }
        do {
            try system.writeFileInPlace(file, contents: "\(sizes.pages)", mode: 0o644)
        } catch {
            throw SandboxError.system(what + ": reserve \(sizes.pages) huge pages", error)
        }
        let granted: String
        do {
            granted = try system.readFile(file).trimmingWhitespace()
        } catch {
            throw SandboxError.system(what + ": read back", error)
        }
        guard UInt64(granted) == sizes.pages else {
            throw SandboxError(.system, "\(what): the kernel granted \(granted) of \(sizes.pages) huge pages of \(sizes.pageSize) bytes")
        }
    }
}
