import CLinuxShim
import Cgroups
import Glibc
import LinuxKit
import Logging
import OCISpec
import Synchronization

/// Runs OCI containers: holds what every container operation needs (the reaper, the init
/// executable, options) and the containers by id. Knows nothing of gRPC.
public final class Engine: Sendable {
    /// Settings of the engine.
    public struct Options: Sendable {
        /// The executable re-run as `<exe> init` for container init (the agent itself).
        public var initExecutable: String
        /// agent.container_pipe_size (0: kernel default).
        public var pipeSize: Int
        /// How long the agent waits for a container init's answers.
        public var initTimeoutMilliseconds: Int32
        /// Clone container inits from a warm zygote (InitZygote) rather than re-executing.
        public var useZygote: Bool
        /// How long a launch waits for the zygote's answer (it only clones: milliseconds).
        public var zygoteAnswerTimeoutMilliseconds: Int32

        public init(
            initExecutable: String = "/proc/self/exe", pipeSize: Int = 0, initTimeoutMilliseconds: Int32 = 60_000,
            useZygote: Bool = true, zygoteAnswerTimeoutMilliseconds: Int32 = 10_000
        ) {
            self.initExecutable = initExecutable
            self.pipeSize = pipeSize
            self.initTimeoutMilliseconds = initTimeoutMilliseconds
            self.useZygote = useZygote
            self.zygoteAnswerTimeoutMilliseconds = zygoteAnswerTimeoutMilliseconds
        }
    }

    public let reaper: Reaper
    public let options: Options
    public let logger: Logger
    /// What container inits are executed from (InitExecutable.swift).
    let initExecutable = Mutex(InitExecutableState())
    let zygote: InitZygote
    let containers = Mutex<[String: Container]>([:])
    /// The machine's cgroup layout, detected once.
    public let cgroupLayout: CgroupLayout?

    public init(reaper: Reaper, options: Options = Options(), logger: Logger = Logger(label: "engine")) {
        self.reaper = reaper
        self.options = options
        self.logger = logger
        self.cgroupLayout = try? CgroupLayout.detect()
        self.zygote = InitZygote(enabled: options.useZygote, answerTimeoutMilliseconds: options.zygoteAnswerTimeoutMilliseconds)
    }

    /// Settles the init executable (a sealed copy when needed) and starts the init zygote now
    /// rather than at the first container.
    public func prepare() throws {
        _ = try initExecutableFD()
        zygote.startIfNeeded(engine: self)
    }

    /// The init zygote's pid while it runs (tests).
    public var zygotePid: pid_t? { zygote.pid }

    // MARK: registry

    /// The container with this id.
    public func container(_ id: String) throws -> Container {
        guard let container = containers.withLock({ $0[id] }) else {
            throw EngineError(.notFound, "find", container: id, "no such container")
        }
        return container
    }

    /// Ids of the known containers.
    public var containerIDs: [String] {
        containers.withLock { Array($0.keys) }.sorted()
    }

    func reserve(_ id: String, _ container: Container) throws {
        try containers.withLock { map in
            guard map[id] == nil else { throw EngineError(.alreadyExists, "create", container: id, "a container with this id exists") }
            map[id] = container
        }
    }

    func unregister(_ id: String) {
        _ = containers.withLock { $0.removeValue(forKey: id) }
    }
}
