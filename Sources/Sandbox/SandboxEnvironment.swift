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
    public var logger: Logger

    public init(system: any SystemCalls, modules: KernelModuleLoader, isInit: Bool,
                resolvConfPath: String = "/etc/resolv.conf", logger: Logger) {
        self.system = system
        self.modules = modules
        self.isInit = isInit
        self.resolvConfPath = resolvConfPath
        self.logger = logger
    }

    /// The real kernel, /lib/modules of the running kernel, PID 1 detected.
    public static func live(logger: Logger) -> SandboxEnvironment {
        let system = LinuxSystemCalls()
        return SandboxEnvironment(system: system, modules: KernelModuleLoader(system: system, logger: logger),
                                  isInit: getpid() == 1, logger: logger)
    }
}
