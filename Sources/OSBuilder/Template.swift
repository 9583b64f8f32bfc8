/// A rootfs template: declarative data read from rootfs-templates/<name>/template.conf.
public struct Template: Sendable, Equatable {
    /// Where the agent goes in the rootfs.
    public enum AgentPlacement: Sendable, Equatable {
        /// The agent is /sbin/init (upstream AGENT_INIT=yes).
        case initDaemon
        /// The agent is installed at this path and started by the template's init system (AGENT_INIT=no).
        case service(path: String)
        /// The template carries no agent (e.g. a module-loading initramfs).
        case none
    }

    /// How owners of bootstrapped files are recorded.
    public enum OwnerPolicy: String, Sendable, Equatable {
        /// Every entry is 0:0 unless an entry names another owner.
        case root
        /// On-disk owners are kept (a bootstrap run as root set them on purpose).
        case preserve
    }

    /// A Debian bootstrap base (mmdebstrap or debootstrap).
    public struct Bootstrap: Sendable, Equatable {
        public var suite: String
        public var variant: String
        public var components: [String]
        /// dpkg path-exclude globs (documentation, man pages) that never reach the guest.
        public var exclude: [String]
    }

    /// Where a directive came from, for error messages.
    public struct Origin: Sendable, Equatable, CustomStringConvertible {
        public var file: String
        public var line: Int
        public var description: String { "\(file):\(line)" }
    }

    /// Numeric owner of an entry.
    public struct Owner: Sendable, Equatable, Hashable {
        public var uid: UInt32
        public var gid: UInt32
        public static let root = Owner(uid: 0, gid: 0)
        public init(uid: UInt32, gid: UInt32) {
            self.uid = uid
            self.gid = gid
        }
    }

    /// One step that shapes the tree, applied in order (parents first).
    public enum Action: Sendable, Equatable {
        case directory(path: String, mode: UInt32, owner: Owner?)
        /// A regular file with inline content, or content from a file next to template.conf.
        case file(path: String, mode: UInt32, owner: Owner?, content: FileContent)
        case symlink(path: String, target: String, owner: Owner?)
        case device(path: String, kind: DeviceKind, major: UInt32, minor: UInt32, mode: UInt32, owner: Owner?)
        /// Copies a file from the build host, e.g. Debian's static busybox.
        case hostFile(source: String, path: String, mode: UInt32?, owner: Owner?)
        /// Creates a symlink for every applet the busybox at `path` (inside the rootfs) lists.
        case busyboxLinks(path: String)
        /// Masks a systemd unit: /etc/systemd/system/<unit> -> /dev/null.
        case mask(unit: String)
    }

    /// Content of a `file` action.
    public enum FileContent: Sendable, Equatable {
        case inline(String)
        /// Path relative to the template's directory.
        case source(String)
    }

    /// Character or block device.
    public enum DeviceKind: String, Sendable, Equatable {
        case character = "c"
        case block = "b"
    }

    public var name: String
    /// Directory holding template.conf and its `source=` files.
    public var directory: String
    public var description: String = ""
    /// Parent chain, nearest first.
    public var inherits: [String] = []
    public var agent: AgentPlacement = .initDaemon
    public var owners: OwnerPolicy = .root
    /// base-distro name/version for osbuilder.yaml.
    public var distroName: String = ""
    public var distroVersion: String = ""
    public var bootstrap: Bootstrap?
    /// Debian packages installed by the bootstrap.
    public var packages: [String] = []
    /// Debian packages that must be installed on the build host (sources of host files).
    public var hostPackages: [String] = []
    public var actions: [Action] = []
    public var origins: [Origin] = []

    public init(name: String, directory: String) {
        self.name = name
        self.directory = directory
    }
}
