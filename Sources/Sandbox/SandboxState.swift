import LinuxKit
import Logging

/// The sandbox: what CreateSandbox set up, the containers slot, and the shutdown signal.
public actor SandboxState {
    public let environment: SandboxEnvironment
    public private(set) var id = ""
    public private(set) var hostname = ""
    public private(set) var dns: [String] = []
    /// CreateSandbox.sandbox_pidns: containers share one pid namespace.
    public private(set) var sandboxPidns = false
    /// The storages CreateSandbox set up (the sandbox's share of `storageManager`).
    public private(set) var storages: [MountedStorage] = []
    /// Every storage of the pod (sandbox and containers), ref-counted by mount point.
    public nonisolated let storageManager: StorageManager
    public private(set) var guestHooks = GuestHooks()
    public private(set) var kernelModules: [KernelModuleRequest] = []
    public private(set) var created = false
    public private(set) var destroyed = false
    /// The container side (engine-core); nil until attached.
    public private(set) var containers: (any SandboxContainers)?
    private var shutdownWaiters: [CheckedContinuation<Void, Never>] = []

    private var creating = false

    public init(environment: SandboxEnvironment) {
        self.environment = environment
        storageManager = StorageManager(registry: environment.storageDrivers) { owner in
            SandboxState.storageContext(environment, owner: owner)
        }
    }

    /// Plugs in the container side (done once at agent start).
    public func attach(containers: any SandboxContainers) {
        self.containers = containers
        containers.useGuestHooks(guestHooks)
    }

    /// CreateSandbox: hostname, kernel modules, storages, guest hooks, DNS; in that order
    /// (modules first: storages may need their filesystems). Fails as a whole on the first
    /// error; storages mounted by this call are undone. A second CreateSandbox is refused.
    public func create(_ request: CreateSandboxRequest) async throws(SandboxError) {
        guard !created, !creating else {
            throw SandboxError(.failedPrecondition, "sandbox \(id.isEmpty ? "(unnamed)" : id) was already created")
        }
        guard !destroyed else { throw SandboxError(.failedPrecondition, "sandbox was destroyed") }
        // Storages may wait (hot-plug): a second CreateSandbox meanwhile is refused, not interleaved.
        creating = true
        defer { creating = false }
        let logger = environment.logger
        let system = environment.system

        if !request.hostname.isEmpty {
            if let problem = HostnameInit.validate(request.hostname) {
                throw SandboxError(.invalidArgument, "hostname: \(problem)")
            }
            do {
                try system.setHostname(request.hostname)
            } catch {
                throw SandboxError.system("set hostname \(request.hostname)", error)
            }
        }

        var moduleIndex: KernelModuleIndex?
        for module in request.kernelModules {
            do {
                try environment.modules.load(module.name, parameters: module.parameters, index: &moduleIndex)
            } catch {
                throw SandboxError(error.errno == 0 || error.errno == 2 && error.operation == "find" ? .invalidArgument : .system,
                                   "\(error)", errno: error.errno)
            }
        }

        for storage in request.storages {
            try Self.validateMountPoint(storage.mountPoint)
        }
        let mounted = try await storageManager.add(request.storages, owner: .sandbox)

        do {
            try SandboxDNS.write(request.dns, to: environment.resolvConfPath, via: environment.sandboxResolvConfPath,
                                 system: system, logger: logger)
        } catch {
            await storageManager.release(owner: .sandbox)
            throw error
        }

        let hooks = request.guestHookPath.isEmpty ? GuestHooks() : GuestHooks.scan(root: request.guestHookPath, system: system)
        if !request.guestHookPath.isEmpty, system.fileKind(request.guestHookPath)?.kind != .directory {
            logger.warning("guest hook path is not a directory; no guest hooks", metadata: ["path": "\(request.guestHookPath)"])
        }

        id = request.sandboxID
        hostname = request.hostname
        dns = request.dns
        sandboxPidns = request.sandboxPidns
        storages = mounted
        guestHooks = hooks
        // Containers created from now on run them (issue 3: appended after the spec's hooks).
        containers?.useGuestHooks(hooks)
        kernelModules = request.kernelModules
        created = true
        logger.info("sandbox created", metadata: [
            "sandbox": "\(id)", "hostname": "\(hostname)", "storages": "\(mounted.count)",
            "guest-hooks": "\(hooks.prestart.count + hooks.poststart.count + hooks.poststop.count)",
            "kernel-modules": "\(request.kernelModules.map(\.name))",
        ])
    }

    /// DestroySandbox: ends the containers (through the attached container side), unmounts
    /// the sandbox storages, then signals shutdown. The caller answers the RPC; the agent's
    /// main loop (see `waitForShutdown`) then stops the server and, as PID 1, powers off.
    public func destroy() async {
        let logger = environment.logger
        if let containers {
            let storages = storageManager
            await containers.destroyAll(logger: logger) { id in await storages.release(owner: .container(id)) }
        }
        await storageManager.releaseAll()
        storages = []
        created = false
        destroyed = true
        logger.info("sandbox destroyed", metadata: ["sandbox": "\(id)", "power-off": "\(environment.isInit)"])
        let waiters = shutdownWaiters
        shutdownWaiters = []
        for waiter in waiters { waiter.resume() }
    }

    /// Returns once DestroySandbox ran.
    public func waitForShutdown() async {
        if destroyed { return }
        await withCheckedContinuation { shutdownWaiters.append($0) }
    }

    static func validateMountPoint(_ path: String) throws(SandboxError) {
        let components = path.split(separator: "/", omittingEmptySubsequences: false)
        guard path.hasPrefix("/"), path != "/", !path.utf8.contains(0),
              !components.dropFirst().contains(where: { $0 == "." || $0 == ".." }),
              !components.dropFirst().dropLast().contains("") else {
            throw SandboxError(.invalidArgument, "storage mount point \"\(path)\" must be an absolute, clean path other than /")
        }
    }
}
