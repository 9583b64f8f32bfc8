import ContainerEngine
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Glibc
import LinuxKit
import Logging
import OCISpec
import Synchronization

/// The sandbox's containers: the engine plus Kata's pod rules. Containers of a sandbox share
/// ipc and uts namespaces (persisted under /run/sandbox-ns), use the VM's network namespace,
/// and with sandbox_pidns share the first container's pid namespace. Bundles live in
/// /run/kata-containers/<id>.
public final class PodContainers: SandboxContainers {
    /// Where bundles and the shared namespaces live (tests point these at temp dirs).
    public struct Paths: Sendable {
        public var bundles: String
        public var sharedNamespaces: String

        public init(bundles: String = "/run/kata-containers", sharedNamespaces: String = "/run/sandbox-ns") {
            self.bundles = bundles
            self.sharedNamespaces = sharedNamespaces
        }
    }

    public let engine: Engine
    public let paths: Paths
    /// OOM events of the pod's containers, queued for GetOOMEvent.
    public let oomEvents: PodOOMEvents
    let logger: Logger

    struct State {
        /// Persisted namespace files (type -> path), made from the first container's init.
        var shared: [String: String] = [:]
        /// The first container's pid namespace, for sandbox_pidns.
        var firstPidNamespace: String?
        var order: [String] = []
        /// CreateSandbox's guest hooks, added to every container created afterwards.
        var guestHooks = GuestHooks()
        /// Ids whose CreateContainer or RemoveContainer is under way, so a concurrent call for
        /// the same id is refused before it touches the first one's bundle or storages.
        var busy: Set<String> = []
    }

    let state = Mutex(State())

    /// Directories of the pod beside the bundles in /run/kata-containers: the shared
    /// filesystem, the sandbox's storages, the erofs snapshotter's layers, pulled images.
    static let reservedBundleNames: Set<String> = ["shared", "sandbox", "virtual-volumes", "image"]

    public init(engine: Engine, paths: Paths = Paths(), logger: Logger) {
        self.engine = engine
        self.paths = paths
        self.logger = logger
        oomEvents = PodOOMEvents(logger: logger)
    }

    // MARK: the process-wide instance

    private static let installed = Mutex<PodContainers?>(nil)

    /// Sets the instance the RPC layer uses (agent start: built on the agent's reaper).
    public static func install(_ containers: PodContainers) {
        installed.withLock { $0 = containers }
    }

    /// The installed instance; without one (the RPC layer run in a test process), one on a
    /// `.registeredOnly` reaper, which never competes with another `.all` reaper.
    public static func current(logger: Logger) throws -> PodContainers {
        try installed.withLock { current in
            if let current { return current }
            let reaper = try Reaper(mode: .registeredOnly, logger: logger)
            let made = PodContainers(engine: Engine(reaper: reaper, logger: logger), logger: logger)
            current = made
            return made
        }
    }

    // MARK: operations

    /// Takes the sandbox's guest hooks (SandboxState hands them over at CreateSandbox).
    public func useGuestHooks(_ hooks: GuestHooks) {
        state.withLock { $0.guestHooks = hooks }
    }

    /// The guest hooks containers created now would get.
    public var guestHooks: GuestHooks { state.withLock { $0.guestHooks } }

    /// CreateContainer: pod namespace rules, the bundle directory, then the engine. Whenever it
    /// fails, `undo` runs (the caller gives back the storages it claimed for this request); then,
    /// unless the id belonged to another container, the bundle directory goes while the id is
    /// still held.
    public func create(
        id: String, spec original: Spec, sandboxPidns: Bool, undo: @Sendable () async -> Void = {}
    ) async throws -> Container {
        // The bundle directory is removed with everything in it when the container goes:
        // it must never be one of the pod's own directories beside the bundles.
        guard !Self.reservedBundleNames.contains(id) else {
            await undo()
            throw EngineError(.invalidSpec, "create", container: id,
                              "the id names the pod's directory \(paths.bundles)/\(id), not a bundle")
        }
        // A live or half-created container's bundle (config.json, rootfs) must not be
        // overwritten, nor removed by the duplicate's failure path.
        let claimed = state.withLock { state in
            engine.containerIDs.contains(id) ? false : state.busy.insert(id).inserted
        }
        guard claimed else {
            await undo()
            throw EngineError(.alreadyExists, "create", container: id, "container id is already in use")
        }
        defer { _ = state.withLock { $0.busy.remove(id) } }
        do {
            return try await createClaimed(id: id, spec: original, sandboxPidns: sandboxPidns)
        } catch {
            await undo()
            removeBundle(paths.bundles + "/" + id)
            throw error
        }
    }

    private func createClaimed(id: String, spec original: Spec, sandboxPidns: Bool) async throws -> Container {
        var spec = original
        let bundle = paths.bundles + "/" + id
        let rootfs: String
        if let root = spec.root?.path, root.hasPrefix("/") {
            rootfs = root
        } else {
            rootfs = bundle + "/" + (spec.root?.path.isEmpty == false ? spec.root?.path ?? "rootfs" : "rootfs")
        }
        applyPodNamespaces(&spec, sandboxPidns: sandboxPidns)
        _ = Directories.create(bundle)
        // config.json is for hooks (they find it through the state's bundle). Encoding it is a
        // good part of a create, so without hooks it is written alongside the launch; with
        // any, before it, as they may run during the create.
        let guestHooks = self.guestHooks
        let finalSpec = spec
        let configWrite = Task { Self.writeBundleConfig(finalSpec, bundle: bundle) }
        if finalSpec.hooks != nil || !guestHooks.isEmpty {
            await configWrite.value
        }
        let container: Container
        do {
            container = try await Container.create(
                id: id, bundle: bundle, spec: spec, rootfs: rootfs, guestHooks: guestHooks.ociHooks, engine: engine)
        } catch {
            await configWrite.value
            throw error
        }
        await configWrite.value
        if let pid = container.pid {
            persistNamespaces(from: pid, spec: spec)
        }
        oomEvents.watch(container)
        state.withLock { $0.order.append(id) }
        return container
    }

    /// RemoveContainer: the engine's delete, then `release` (the caller's storages of this
    /// container, its rootfs among them), then the bundle directory with whatever the
    /// container left in it (an overlay's upper and work directories), while the id is held.
    public func remove(id: String, timeout: Duration?, release: @Sendable () async -> Void = {}) async throws {
        let container = try engine.container(id)
        let claimed = state.withLock { $0.busy.insert(id).inserted }
        guard claimed else { throw EngineError(.wrongState, "remove", container: id, "another create or remove of this id is under way") }
        defer { _ = state.withLock { $0.busy.remove(id) } }
        oomEvents.stopWatching(id)
        do {
            try await container.delete(timeout: timeout)
        } catch {
            // Still there (e.g. the timeout passed): keep reporting its OOMs.
            if (try? engine.container(id)) != nil { oomEvents.watch(container) }
            throw error
        }
        await release()
        removeBundle(paths.bundles + "/" + id)
        let empty = state.withLock { state in
            state.order.removeAll { $0 == id }
            return state.order.isEmpty
        }
        if empty { releaseSharedNamespaces() }
        // Its output buffers and stdio are freed now: their pages go back to the guest.
        HeapTrim.releaseFreeMemory()
    }

    public func destroyAll(logger: Logger, release: @escaping @Sendable (String) async -> Void) async {
        for id in engine.containerIDs {
            do {
                try await remove(id: id, timeout: .seconds(10)) { await release(id) }
            } catch {
                logger.error("remove container at sandbox destruction", metadata: ["container": "\(id)", "error": "\(error)"])
            }
        }
        oomEvents.close()
        releaseSharedNamespaces()
    }

    // MARK: pod rules

    func applyPodNamespaces(_ spec: inout Spec, sandboxPidns: Bool) {
        let (shared, firstPid) = state.withLock { ($0.shared, $0.firstPidNamespace) }
        var namespaces = spec.linux?.namespaces ?? []
        // The VM's network namespace is the pod's.
        namespaces.removeAll { $0.type == "network" && ($0.path ?? "").isEmpty }
        for index in namespaces.indices {
            let type = namespaces[index].type
            guard (namespaces[index].path ?? "").isEmpty else { continue }
            if type == "ipc" || type == "uts", let path = shared[type] {
                namespaces[index].path = path
                // The pod's hostname is the first container's: as upstream, a container
                // joining the shared UTS namespace does not set its own.
                if type == "uts", let hostname = spec.hostname, !hostname.isEmpty {
                    logger.debug("hostname of a container joining the pod's uts namespace ignored",
                                 metadata: ["hostname": "\(hostname)"])
                    spec.hostname = nil
                }
            }
        }
        // Every container gets a pid namespace, as upstream's agent gives one: the Go runtime
        // strips the pid entry from the spec and says sandbox_pidns instead when the pod shares
        // one (shareProcessNamespace). Without it a container would see, and as root signal,
        // the agent and every other container's processes, and its own init would not be pid 1.
        // An entry with a path (the host chose a namespace to join) is kept as it is.
        if !namespaces.contains(where: { $0.type == "pid" && !($0.path ?? "").isEmpty }) {
            namespaces.removeAll { $0.type == "pid" }
            // The first container (the pause) makes the namespace the others join.
            namespaces.append(LinuxNamespace(type: "pid", path: sandboxPidns ? firstPid : nil))
        }
        namespaces = Self.withCgroupNamespace(namespaces, unifiedHierarchy: engine.cgroupLayout?.mode == .v2)
        if spec.linux == nil { spec.linux = Linux() }
        spec.linux?.namespaces = namespaces
    }

    /// On cgroup v2 every container gets a cgroup namespace, as upstream's agent gives one: the
    /// runtime strips it from the spec, and without one the container's cgroup2 mount and
    /// /proc/self/cgroup show the guest's whole hierarchy, the agent's and every other
    /// container's cgroups included. (On v1 the container's mounts bind its own cgroups only.)
    static func withCgroupNamespace(_ namespaces: [LinuxNamespace], unifiedHierarchy: Bool) -> [LinuxNamespace] {
        guard unifiedHierarchy, !namespaces.contains(where: { $0.type == "cgroup" }) else { return namespaces }
        return namespaces + [LinuxNamespace(type: "cgroup")]
    }

    /// Keeps the first container's ipc/uts namespaces alive (bind-mounted namespace files),
    /// so later containers join them even after the first one is gone.
    func persistNamespaces(from pid: pid_t, spec: Spec) {
        let isFirst = state.withLock { $0.shared.isEmpty && $0.firstPidNamespace == nil }
        guard isFirst else { return }
        var shared: [String: String] = [:]
        try? FileManager.default.createDirectory(atPath: paths.sharedNamespaces, withIntermediateDirectories: true)
        for type in ["ipc", "uts"] where spec.linux?.namespaces?.contains(where: { $0.type == type && ($0.path ?? "").isEmpty }) ?? false {
            let target = paths.sharedNamespaces + "/" + type
            _ = FileManager.default.createFile(atPath: target, contents: nil)
            if mount("/proc/\(pid)/ns/\(type)", target, nil, UInt(MS_BIND), nil) == 0 {
                shared[type] = target
            } else {
                logger.warning("persist shared namespace", metadata: ["type": "\(type)", "errno": "\(errno)"])
            }
        }
        let pidPath = "/proc/\(pid)/ns/pid"
        state.withLock { state in
            state.shared = shared
            state.firstPidNamespace = pidPath
        }
    }

    func releaseSharedNamespaces() {
        let shared = state.withLock { state in
            defer { state.shared = [:]; state.firstPidNamespace = nil }
            return state.shared
        }
        for (_, path) in shared {
            _ = umount2(path, Int32(MNT_DETACH))
            _ = unlink(path)
        }
    }

    /// Writes `<bundle>/config.json` in place: nothing reads it concurrently, so no atomic
    /// rename, and /run is a tmpfs, so no fsync (FileManager's createFile did both).
    private static func writeBundleConfig(_ spec: Spec, bundle: String) {
        guard let data = try? spec.encoded(pretty: true) else { return }
        try? LinuxSystemCalls().writeFileInPlace(bundle + "/config.json", contents: String(decoding: data, as: UTF8.self), mode: 0o644)
    }

    /// The bundle directory and what the container's storages left under it: an overlay's
    /// upper and work directories live in /run/kata-containers/<id> (guest memory), and a
    /// restarting container would otherwise leave one more copy each time. Mount points are
    /// left alone (a rootfs the runtime still holds).
    private func removeBundle(_ bundle: String) {
        if let failure = TreeRemoval.remove(bundle) {
            logger.warning("container directory not removed completely", metadata: [
                "path": "\(failure.path)", "operation": "\(failure.operation)", "errno": "\(failure.errno)",
            ])
        }
    }
}

extension GuestHooks {
    /// The guest hooks as OCI hooks with args [path, hook-type] (upstream's form); nil when
    /// there are none.
    public var ociHooks: Hooks? {
        guard !isEmpty else { return nil }
        func convert(_ hooks: [GuestHook]) -> [Hook]? {
            hooks.isEmpty ? nil : hooks.map { Hook(path: $0.path, args: $0.arguments) }
        }
        return Hooks(prestart: convert(prestart), poststart: convert(poststart), poststop: convert(poststop))
    }
}
