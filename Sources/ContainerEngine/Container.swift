import Cgroups
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Glibc
import Logging
import OCISpec
import Synchronization

/// Where a container is in its lifecycle (runtime.md's states, plus paused).
public enum ContainerStatus: String, Sendable, Equatable {
    case creating, created, running, paused, stopped
}

/// One OCI container: created by `Container.create`, driven by the operations in the
/// Container+*.swift files (one per operation, as youki lays them out).
public final class Container: Sendable {
    public let id: String
    public let bundle: String
    public let spec: Spec
    /// Absolute rootfs path.
    public let rootfs: String
    let engine: Engine
    let cgroup: CgroupManager?
    let logger: Logger

    struct State {
        var status: ContainerStatus = .creating
        var initProcess: ContainerProcess?
        var initSocket: SyncSocket?
        var execs: [String: ContainerProcess] = [:]
    }

    let state = Mutex(State())

    init(id: String, bundle: String, spec: Spec, rootfs: String, engine: Engine, cgroup: CgroupManager?) {
        self.id = id
        self.bundle = bundle
        self.spec = spec
        self.rootfs = rootfs
        self.engine = engine
        self.cgroup = cgroup
        var logger = engine.logger
        logger[metadataKey: "container"] = "\(id)"
        self.logger = logger
    }

    public var status: ContainerStatus { state.withLock { $0.status } }

    /// The init's pid (the container's pid 1 seen from the agent), once created.
    public var pid: pid_t? { state.withLock { $0.initProcess?.pid } }

    /// The init process (exec id "") or an exec'd process.
    public func process(_ execID: String) throws -> ContainerProcess {
        let found: ContainerProcess? = state.withLock { state in
            execID.isEmpty ? state.initProcess : state.execs[execID]
        }
        guard let found else {
            throw EngineError(.notFound, "find process", container: id,
                              execID.isEmpty ? "container has no init process" : "no process with exec id \(execID)")
        }
        return found
    }

    /// The OCI state document for hooks.
    public func ociState() -> OCISpec.State {
        let snapshot = state.withLock { ($0.status, $0.initProcess?.pid) }
        let status = snapshot.0 == .paused ? "running" : snapshot.0.rawValue
        return OCISpec.State(ociVersion: spec.ociVersion, id: id, status: status, pid: snapshot.1, bundle: bundle,
                     annotations: spec.annotations)
    }

    func setStatus(_ status: ContainerStatus) {
        state.withLock { $0.status = status }
    }

    func fail(_ operation: String, _ error: any Error) -> any Error {
        logger.error("\(operation) failed", metadata: ["error": "\(error)"])
        return error
    }
}
