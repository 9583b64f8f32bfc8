import Glibc
import LinuxKit
import Logging
import Synchronization

/// The mirror behind `watchable-bind`: virtio-fs gives containers no inotify for host-side
/// changes (configMaps, secrets), so small sources are copied into a tmpfs and re-scanned
/// periodically; a container bind-mounting the copy sees real file events. Upstream's limits:
/// a source of more than 16 entries or 1 MiB is bind-mounted instead and no longer watched.
/// The tmpfs is mounted with the first watched storage; the refresher and the tmpfs go with
/// the last.
public final class BindWatcher: Sendable {
    public static let maximumEntries = 16
    public static let maximumBytes: Int64 = 1 << 20

    struct Watched {
        var source: String
        var target: String
        /// False once the source outgrew the limits and is bind-mounted instead.
        var watching = true
        /// Source path -> mtime (ns) of what was mirrored.
        var known: [String: Int64] = [:]
    }

    struct State {
        var entries: [String: Watched] = [:]
        var order: [String] = []
        var tmpfsMounted = false
        var refresher: Task<Void, Never>?
    }

    let state = Mutex(State())
    /// How often sources are re-scanned (upstream: 2 s).
    public let interval: Duration

    public init(interval: Duration = .seconds(2)) {
        self.interval = interval
    }

    /// Whether the refresher runs (tests check it stops with the last storage).
    public var isRefreshing: Bool { state.withLock { $0.refresher != nil } }

    /// Starts mirroring `storage.source` into `storage.mountPoint` (under the watchable tmpfs).
    func add(_ storage: StorageRequest, context: StorageContext) throws(SandboxError) -> MountedStorage {
        let what = "watchable-bind storage \(storage.mountPoint)"
        let root = MountTable.normalized(context.paths.watchable)
        let target = MountTable.normalized(storage.mountPoint)
        guard target.hasPrefix(root + "/") else {
            throw SandboxError(.invalidArgument, "\(what): mount point must be under \(root)")
        }
        guard let sourceStatus = context.files.status(storage.source, followLinks: true) else {
            throw SandboxError(.invalidArgument, "\(what): source \(storage.source) does not exist", errno: ENOENT)
        }
        try state.withLock { (state) throws(SandboxError) in
            guard state.entries[target] == nil else {
                throw SandboxError(.failedPrecondition, "\(what): already watched")
            }
            if !state.tmpfsMounted {
                do throws(SyscallError) {
                    try context.system.makeDirectory(root, mode: 0o755)
                    try context.system.mount(source: "tmpfs", target: root, fsType: "tmpfs", flags: [], data: "")
                } catch {
                    throw SandboxError.system(what + ": mount the watchable tmpfs", error)
                }
                state.tmpfsMounted = true
            }
            var entry = Watched(source: MountTable.normalized(storage.source), target: target)
            do throws(SandboxError) {
                if sourceStatus.kind == .directory {
                    do throws(SyscallError) {
                        try context.system.makeDirectory(target, mode: 0o755)
                    } catch {
                        throw SandboxError.system(what + ": create the mirror", error)
                    }
                }
                try Self.scan(&entry, context: context)
            } catch {
                Self.discard(entry, context: context)
                if state.entries.isEmpty { Self.unmountRoot(&state, root: root, context: context) }
                throw error
            }
            state.entries[target] = entry
            state.order.append(target)
            if state.refresher == nil {
                state.refresher = startRefresher(context: context)
            }
        }
        context.logger.info("watchable storage mirrored", metadata: ["source": "\(storage.source)", "target": "\(target)"])
        return MountedStorage(driver: storage.driver, mountPoint: target, isMount: false, source: storage.source, fsType: "bind")
    }

    /// Stops mirroring into `target` and removes the copy; the last one stops the refresher
    /// and unmounts the tmpfs.
    func remove(_ target: String, context: StorageContext) {
        let key = MountTable.normalized(target)
        state.withLock { state in
            guard let entry = state.entries.removeValue(forKey: key) else { return }
            state.order.removeAll { $0 == key }
            Self.discard(entry, context: context)
            if state.entries.isEmpty {
                state.refresher?.cancel()
                state.refresher = nil
                Self.unmountRoot(&state, root: MountTable.normalized(context.paths.watchable), context: context)
            }
        }
    }

    /// One pass over every watched source (the refresher's tick; tests call it directly).
    public func refresh(context: StorageContext) {
        state.withLock { state in
            for key in state.order {
                guard var entry = state.entries[key], entry.watching else { continue }
                do {
                    try Self.scan(&entry, context: context)
                } catch {
                    context.logger.warning("watchable storage scan failed", metadata: ["target": "\(key)", "error": "\(error)"])
                }
                state.entries[key] = entry
            }
        }
    }

    private func startRefresher(context: StorageContext) -> Task<Void, Never> {
        let interval = interval
        return Task { [weak self] in
            while !Task.isCancelled {
                do {
                    try await Task.sleep(for: interval)
                } catch {
                    return
                }
                guard let self else { return }
                self.refresh(context: context)
            }
        }
    }

    // MARK: mirroring

    /// One source entry seen by a scan.
    struct Seen {
        var path: String
        var status: FileStatus
    }

    /// Compares the source with what was mirrored: copies new and changed entries, removes
    /// vanished ones; past the limits, replaces the mirror with a bind mount of the source.
    static func scan(_ entry: inout Watched, context: StorageContext) throws(SandboxError) {
        var seen: [Seen] = []
        var bytes: Int64 = 0
        let fits = walk(entry.source, context: context, into: &seen, bytes: &bytes)
        guard fits else {
            try fallBackToBind(&entry, context: context)
            return
        }
        let present = Set(seen.map(\.path))
        for gone in entry.known.keys.filter({ !present.contains($0) }).sorted(by: >) {
            removeTree(targetPath(of: gone, in: entry), context: context)
            entry.known[gone] = nil
        }
        for item in seen {
            if let mirrored = entry.known[item.path], mirrored >= item.status.modifiedNanoseconds { continue }
            try copy(item, to: targetPath(of: item.path, in: entry), context: context)
            entry.known[item.path] = item.status.modifiedNanoseconds
        }
    }

    /// Collects the source tree (pre-order); false once it exceeds the entry or byte limit.
    static func walk(_ path: String, context: StorageContext, into seen: inout [Seen], bytes: inout Int64) -> Bool {
        guard let status = context.files.status(path, followLinks: false) else { return true }
        seen.append(Seen(path: path, status: status))
        if status.kind != .directory {
            // A (sparse) file on the host's share can claim any size up to Int64.max.
            let (sum, overflow) = bytes.addingReportingOverflow(max(status.size, 0))
            guard !overflow else { return false }
            bytes = sum
        }
        guard seen.count <= maximumEntries, bytes <= maximumBytes else { return false }
        if status.kind == .directory {
            let names = (try? context.system.listDirectory(path)) ?? []
            for name in names.sorted() where !walk(path + "/" + name, context: context, into: &seen, bytes: &bytes) {
                return false
            }
        }
        return true
    }

    static func targetPath(of source: String, in entry: Watched) -> String {
        source == entry.source ? entry.target : entry.target + source.dropFirst(entry.source.count)
    }

    static func copy(_ item: Seen, to target: String, context: StorageContext) throws(SandboxError) {
        do {
            switch item.status.kind {
            case .directory:
                try context.system.makeDirectory(target, mode: 0o755)
                try context.files.changeMode(target, mode: item.status.permissions)
            case .symlink:
                let link = try context.files.readLink(item.path)
                try context.system.removeFile(target)
                try context.system.symlink(target: link, at: target)
            case .regular:
                let data = try context.files.readBytes(item.path, limit: Int(maximumBytes) + 1)
                try context.files.writeBytes(target, data, mode: item.status.permissions)
                try context.files.changeMode(target, mode: item.status.permissions)
            default:
                return  // devices and fifos have no business in a configMap
            }
            try context.files.changeOwner(target, uid: item.status.uid, gid: item.status.gid)
        } catch {
            throw SandboxError.system("mirror \(item.path)", error)
        }
    }

    static func fallBackToBind(_ entry: inout Watched, context: StorageContext) throws(SandboxError) {
        context.logger.info("watchable source too large to mirror; bind-mounted instead", metadata: [
            "source": "\(entry.source)", "limits": "\(maximumEntries) entries, \(maximumBytes) bytes",
        ])
        removeTree(entry.target, context: context)
        do {
            if context.files.status(entry.source, followLinks: true)?.kind == .directory {
                try context.system.makeDirectory(entry.target, mode: 0o755)
            } else {
                try context.files.writeBytes(entry.target, [], mode: 0o644)
            }
            try context.system.mount(source: entry.source, target: entry.target, fsType: "bind", flags: .bind, data: "")
        } catch {
            throw SandboxError.system("bind \(entry.source) over its watchable mirror", error)
        }
        entry.watching = false
        entry.known = [:]
    }

    static func discard(_ entry: Watched, context: StorageContext) {
        if !entry.watching {
            try? context.system.unmount(target: entry.target, detach: true)
        }
        removeTree(entry.target, context: context)
    }

    static func unmountRoot(_ state: inout State, root: String, context: StorageContext) {
        guard state.tmpfsMounted else { return }
        do {
            try context.system.unmount(target: root, detach: true)
        } catch {
            context.logger.warning("cannot unmount the watchable tmpfs", metadata: ["path": "\(root)", "error": "\(error)"])
        }
        state.tmpfsMounted = false
    }

    /// rm -rf without following symlinks.
    static func removeTree(_ path: String, context: StorageContext) {
        guard let status = context.files.status(path, followLinks: false) else { return }
        if status.kind == .directory {
            for name in (try? context.system.listDirectory(path)) ?? [] {
                removeTree(path + "/" + name, context: context)
            }
            try? context.files.removeDirectory(path)
        } else {
            try? context.system.removeFile(path)
        }
    }
}
