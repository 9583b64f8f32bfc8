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
    public private(set) var storages: [MountedStorage] = []
    public private(set) var guestHooks = GuestHooks()
    public private(set) var kernelModules: [KernelModuleRequest] = []
    public private(set) var created = false
    public private(set) var destroyed = false
    /// The container side (engine-core); nil until attached.
    public private(set) var containers: (any SandboxContainers)?
    private var shutdownWaiters: [CheckedContinuation<Void, Never>] = []

    public init(environment: SandboxEnvironment) {
        self.environment = environment
    }

    /// Plugs in the container side (done once at agent start).
    public func attach(containers: any SandboxContainers) {
        self.containers = containers
        containers.useGuestHooks(guestHooks)
    }

    /// CreateSandbox: hostname, kernel modules, storages, guest hooks, DNS; in that order
    /// (modules first: storages may need their filesystems). Fails as a whole on the first
    /// error; storages mounted by this call are undone. A second CreateSandbox is refused.
    public func create(_ request: CreateSandboxRequest) throws(SandboxError) {
        guard !created else {
            throw SandboxError(.failedPrecondition, "sandbox \(id.isEmpty ? "(unnamed)" : id) was already created")
        }
        guard !destroyed else { throw SandboxError(.failedPrecondition, "sandbox was destroyed") }
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

        for module in request.kernelModules {
            do {
                try environment.modules.load(module.name, parameters: module.parameters)
            } catch {
                throw SandboxError(error.errno == 0 || error.errno == 2 && error.operation == "find" ? .invalidArgument : .system,
                                   "\(error)", errno: error.errno)
            }
        }

        var mounted: [MountedStorage] = []
        for storage in request.storages {
            do {
                mounted.append(try SandboxStorage.add(storage, system: system))
            } catch {
                Self.undo(mounted, system: system, logger: logger)
                throw error
            }
        }

        do {
            try SandboxDNS.write(request.dns, to: environment.resolvConfPath, system: system, logger: logger)
        } catch {
            Self.undo(mounted, system: system, logger: logger)
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
            await containers.destroyAll(logger: logger)
        }
        Self.undo(storages, system: environment.system, logger: logger)
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

    private static func undo(_ storages: [MountedStorage], system: any SystemCalls, logger: Logger) {
        for storage in storages.reversed() where storage.isMount {
            do {
                try system.unmount(target: storage.mountPoint, detach: true)
            } catch {
                logger.warning("cannot unmount sandbox storage", metadata: ["mount-point": "\(storage.mountPoint)", "error": "\(error)"])
            }
        }
    }
}
