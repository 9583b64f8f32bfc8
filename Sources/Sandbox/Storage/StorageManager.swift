import LinuxKit
import Logging

/// Who holds a storage: the sandbox (CreateSandbox) or a container (CreateContainer).
public enum StorageOwner: Sendable, Hashable, CustomStringConvertible {
    case sandbox
    case container(String)

    public var description: String {
        switch self {
        case .sandbox: return "sandbox"
        case .container(let id): return "container \(id)"
        }
    }
}

/// The uses of mount points one `StorageManager.claim` took.
public struct StorageClaim: Sendable {
    public let owner: StorageOwner
    /// Normalized mount points, in the order they were claimed.
    public let mountPoints: [String]
    public let storages: [MountedStorage]
}

/// The storages of the pod, ref-counted by mount point as upstream's add_storages: the first
/// user mounts, a later user of the same mount point mounts nothing, the last user's release
/// undoes it, unless its driver keeps it for the pod (`keptForPod`: then it waits, without
/// users, for the next claim or `releaseAll`). A request's storages succeed or fail together: on
/// a failure the ones this request added are released again, newest first. Operations run one at a time (a driver may wait for
/// a hot-plugged device; another request for the same mount point must not race it).
public actor StorageManager {
    struct Entry {
        var mounted: MountedStorage
        var driver: any StorageDriver
        /// One element per add; an owner may appear more than once.
        var users: [StorageOwner]
    }

    public let registry: StorageDriverRegistry
    private let makeContext: @Sendable (StorageOwner) -> StorageContext
    private var entries: [String: Entry] = [:]
    /// Mount points in the order they were first mounted (releases go newest first).
    private var order: [String] = []
    private var busy = false
    private var waiters: [CheckedContinuation<Void, Never>] = []

    /// `context` builds the driver context for an owner (its container id, the syscalls).
    public init(registry: StorageDriverRegistry, context: @escaping @Sendable (StorageOwner) -> StorageContext) {
        self.registry = registry
        self.makeContext = context
    }

    /// Sets up `storages` for `owner`, in order. Returns what each one is (the existing entry
    /// when the mount point was already held). All or nothing.
    @discardableResult
    public func add(_ storages: [StorageRequest], owner: StorageOwner) async throws(SandboxError) -> [MountedStorage] {
        try await claim(storages, owner: owner).storages
    }

    /// `add`, returning a claim that `release(_:)` undoes exactly (one use of each mount point),
    /// for a caller whose next step may fail without touching the owner's other uses.
    public func claim(_ storages: [StorageRequest], owner: StorageOwner) async throws(SandboxError) -> StorageClaim {
        await lock()
        defer { unlock() }
        // Every driver is resolved first: an unknown driver anywhere mounts nothing at all.
        var drivers: [any StorageDriver] = []
        for storage in storages {
            drivers.append(try registry.driver(for: storage))
        }
        let context = makeContext(owner)
        var added: [String] = []
        var result: [MountedStorage] = []
        for (storage, driver) in zip(storages, drivers) {
            let key = MountTable.normalized(storage.mountPoint)
            if var entry = entries[key] {
                entry.users.append(owner)
                entries[key] = entry
                added.append(key)
                result.append(entry.mounted)
                context.logger.debug("storage already set up; shared", metadata: [
                    "mount-point": "\(key)", "users": "\(entry.users.count)", "owner": "\(owner)",
                ])
                continue
            }
            do {
                let mounted = try await driver.mount(storage, context: context)
                entries[key] = Entry(mounted: mounted, driver: driver, users: [owner])
                order.append(key)
                added.append(key)
                result.append(mounted)
            } catch {
                for undo in added.reversed() {
                    await drop(undo, owner: owner, all: false, logger: context.logger)
                }
                throw error
            }
        }
        return StorageClaim(owner: owner, mountPoints: added, storages: result)
    }

    /// Gives back exactly the uses `claim` took (newest first).
    public func release(_ claim: StorageClaim) async {
        await lock()
        defer { unlock() }
        let logger = makeContext(claim.owner).logger
        for key in claim.mountPoints.reversed() {
            await drop(key, owner: claim.owner, all: false, logger: logger)
        }
    }

    /// Releases every storage `owner` holds; the last user of a mount point undoes it.
    /// Failures are logged (removal and destruction must go on).
    public func release(owner: StorageOwner) async {
        await lock()
        defer { unlock() }
        let logger = makeContext(owner).logger
        for key in order.reversed() where entries[key]?.users.contains(owner) == true {
            await drop(key, owner: owner, all: true, logger: logger)
        }
    }

    /// Releases everything (DestroySandbox), newest first.
    public func releaseAll() async {
        await lock()
        defer { unlock() }
        let logger = makeContext(.sandbox).logger
        for key in order.reversed() {
            guard let entry = entries[key] else { continue }
            await undo(key, entry: entry, logger: logger)
        }
    }

    /// What is set up now, oldest first, with its users.
    public var current: [(storage: MountedStorage, users: [StorageOwner])] {
        order.compactMap { key in entries[key].map { ($0.mounted, $0.users) } }
    }

    /// The storage set up at `mountPoint`, if any.
    public func storage(at mountPoint: String) -> MountedStorage? {
        entries[MountTable.normalized(mountPoint)]?.mounted
    }

    /// Mount points `owner` holds, oldest first.
    public func mountPoints(of owner: StorageOwner) -> [String] {
        order.filter { entries[$0]?.users.contains(owner) == true }
    }

    private func drop(_ key: String, owner: StorageOwner, all: Bool, logger: Logger) async {
        guard var entry = entries[key] else { return }
        if all {
            entry.users.removeAll { $0 == owner }
        } else if let index = entry.users.lastIndex(of: owner) {
            entry.users.remove(at: index)
        }
        if entry.users.isEmpty && !entry.driver.keptForPod {
            await undo(key, entry: entry, logger: logger)
        } else {
            if entry.users.isEmpty {
                logger.info("storage kept for the pod", metadata: ["driver": "\(entry.mounted.driver)", "mount-point": "\(key)"])
            }
            entries[key] = entry
        }
    }

    private func undo(_ key: String, entry: Entry, logger: Logger) async {
        entries[key] = nil
        order.removeAll { $0 == key }
        do {
            try await entry.driver.release(entry.mounted, context: makeContext(entry.users.first ?? .sandbox))
            logger.info("storage released", metadata: ["driver": "\(entry.mounted.driver)", "mount-point": "\(key)"])
        } catch {
            logger.warning("cannot release storage", metadata: ["mount-point": "\(key)", "error": "\(error)"])
        }
    }

    private func lock() async {
        if !busy {
            busy = true
            return
        }
        await withCheckedContinuation { waiters.append($0) }
    }

    private func unlock() {
        if waiters.isEmpty {
            busy = false
        } else {
            waiters.removeFirst().resume()
        }
    }
}
