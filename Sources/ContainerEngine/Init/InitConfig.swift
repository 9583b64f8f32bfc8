import OCISpec

/// What the agent tells a `kata-agent init` process to do (the first sync message).
public struct InitConfig: Codable, Sendable, Equatable {
    /// Set up a new container (`create`) or enter an existing one (`exec`).
    public enum Mode: String, Codable, Sendable {
        case create
        case exec
    }

    public var mode: Mode
    public var containerID: String
    /// The process to exec (the container's, or the exec'd one).
    public var process: Process
    /// The container's spec (mounts, namespaces, seccomp ... ) as the init needs it (see
    /// `forInit`); for exec only the security parts matter.
    public var spec: Spec
    /// Absolute path of the root filesystem (create).
    public var rootfs: String
    /// Namespaces to join with setns, in order (user first, mount last).
    public var joinNamespaces: [LinuxNamespace]
    /// The clone already created a user namespace; the agent wrote its id maps.
    public var inNewUserNamespace: Bool
    /// Unshare a cgroup namespace (after the agent put the init in its cgroup).
    public var unshareCgroup: Bool
    /// Mount a fresh proc/sysfs is possible: the pid namespace is the container's own.
    public var newPidNamespace: Bool
    /// Whether the cgroup hierarchy is v2-only (how to mount `cgroup` entries).
    public var cgroupUnifiedOnly: Bool
    /// The container's cgroups path inside each hierarchy.
    public var cgroupPath: String

    public init(
        mode: Mode, containerID: String, process: Process, spec: Spec, rootfs: String = "",
        joinNamespaces: [LinuxNamespace] = [], inNewUserNamespace: Bool = false,
        unshareCgroup: Bool = false, newPidNamespace: Bool = false,
        cgroupUnifiedOnly: Bool = false, cgroupPath: String = ""
    ) {
        self.mode = mode
        self.containerID = containerID
        self.process = process
        self.spec = Self.forInit(spec)
        self.rootfs = rootfs
        self.joinNamespaces = joinNamespaces
        self.inNewUserNamespace = inNewUserNamespace
        self.unshareCgroup = unshareCgroup
        self.newPidNamespace = newPidNamespace
        self.cgroupUnifiedOnly = cgroupUnifiedOnly
        self.cgroupPath = cgroupPath
    }
}

extension InitConfig {
    /// `spec` without what only the agent uses: the process (it travels as `process`), the
    /// resources (the agent applies them to the cgroup), the id maps (the agent writes them)
    /// and the annotations. That is about half of a typical spec, encoded by the agent and
    /// decoded by the init for every container and exec.
    static func forInit(_ spec: Spec) -> Spec {
        var spec = spec
        spec.process = nil
        spec.annotations = nil
        spec.linux?.resources = nil
        spec.linux?.uidMappings = nil
        spec.linux?.gidMappings = nil
        return spec
    }
}

/// One message on the agent <-> init socket.
public struct SyncMessage: Codable, Sendable, Equatable {
    /// The message kinds, in the order they normally flow.
    public enum Kind: String, Codable, Sendable {
        /// agent -> init: the InitConfig.
        case config
        /// init -> agent: namespaces and mounts are set up, pivot_root is next: run the
        /// prestart and createRuntime hooks now (runc's procHooks). Sent only when there are any.
        case hooks
        /// agent -> init: the prestart and createRuntime hooks succeeded (runc's procResume).
        case hooksDone
        /// init -> agent: set up and waiting for `start` (create mode).
        case ready
        /// agent -> init: exec the workload.
        case start
        /// init -> agent: a step failed; the init exits after sending it.
        case error
    }

    public var kind: Kind
    public var config: InitConfig?
    public var errno: Int32?
    public var message: String?
    /// The OCI state for the hooks the init runs itself: with `config`, the createContainer
    /// hooks' state; with `start`, the startContainer hooks'. The agent owns the document
    /// (the pid is the init's pid as the agent sees it, which the init cannot know).
    public var state: OCISpec.State?

    public init(kind: Kind, config: InitConfig? = nil, errno: Int32? = nil, message: String? = nil, state: OCISpec.State? = nil) {
        self.kind = kind
        self.config = config
        self.errno = errno
        self.message = message
        self.state = state
    }
}
