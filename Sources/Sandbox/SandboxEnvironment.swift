import Glibc
import LinuxKit
import Logging

/// The side effects the sandbox domain uses, injectable for tests.
public struct SandboxEnvironment: Sendable {
    public var system: any SystemCalls
    public var modules: KernelModuleLoader
    /// Whether the agent runs as PID 1 (DestroySandbox then powers off).
    public var isInit: Bool
    /// Where CreateSandbox.dns goes.
    public var resolvConfPath: String
    /// The sandbox's own resolv.conf, bind-mounted over `resolvConfPath` (upstream's
    /// /run/kata-containers/sandbox/resolv.conf); nil writes `resolvConfPath` in place.
    public var sandboxResolvConfPath: String?
    public var logger: Logger
    /// The storage seam beside `system` (ownership, statfs, byte copies, swapon).
    public var storageFiles: any StorageSystemCalls
    /// The storage drivers CreateSandbox/CreateContainer accept.
    public var storageDrivers: StorageDriverRegistry
    public var storagePaths: StoragePaths
    /// agent.hotplug_timeout: how long block drivers wait for a hot-plugged device.
    public var hotplugTimeout: Duration

    /// Without `storageFiles`, an in-memory `system` gets the in-memory storage seam over the
    /// same tree (tests), the kernel gets the kernel's.
    public init(system: any SystemCalls, modules: KernelModuleLoader, isInit: Bool,
                resolvConfPath: String = "/etc/resolv.conf", logger: Logger,
                storageFiles: (any StorageSystemCalls)? = nil, storageDrivers: StorageDriverRegistry? = nil,
                storagePaths: StoragePaths = StoragePaths(), hotplugTimeout: Duration = .seconds(3),
                sandboxResolvConfPath: String? = nil) {
        self.system = system
        self.modules = modules
        self.isInit = isInit
        self.resolvConfPath = resolvConfPath
        self.sandboxResolvConfPath = sandboxResolvConfPath
        self.logger = logger
        self.storageFiles = storageFiles
            ?? (system as? InMemorySystemCalls).map { InMemoryStorageSystemCalls(base: $0) } ?? LinuxStorageSystemCalls()
        self.storageDrivers = storageDrivers ?? .standard()
        self.storagePaths = storagePaths
        self.hotplugTimeout = hotplugTimeout
    }

    /// The real kernel, /lib/modules of the running kernel, PID 1 detected.
    public static func live(logger: Logger) -> SandboxEnvironment {
        let system = LinuxSystemCalls()
        return SandboxEnvironment(system: system, modules: KernelModuleLoader(system: system, logger: logger),
                                  isInit: getpid() == 1, logger: logger, sandboxResolvConfPath: SandboxDNS.sandboxFile)
    }
}
