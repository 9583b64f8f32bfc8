import Glibc

/// OCI mount options split into mount(2) flags, propagation flags and filesystem data, as
/// runc parses them.
public struct MountOptions: Sendable, Equatable {
    public var flags: UInt = 0
    /// Flags an option cleared explicitly (e.g. "rw", "dev"), kept for remounts.
    public var clearedFlags: UInt = 0
    public var propagation: [UInt] = []
    public var data: [String] = []

    /// Whether the mount is a bind mount ("bind" or "rbind").
    public var isBind: Bool { flags & UInt(MS_BIND) != 0 }

    static let setting: [String: UInt] = [
        "bind": UInt(MS_BIND), "rbind": UInt(MS_BIND) | UInt(MS_REC), "ro": UInt(MS_RDONLY),
        "nosuid": UInt(MS_NOSUID), "nodev": UInt(MS_NODEV), "noexec": UInt(MS_NOEXEC),
        "sync": UInt(MS_SYNCHRONOUS), "dirsync": UInt(MS_DIRSYNC), "mand": UInt(MS_MANDLOCK),
        "noatime": UInt(MS_NOATIME), "nodiratime": UInt(MS_NODIRATIME), "relatime": UInt(MS_RELATIME),
        "strictatime": UInt(MS_STRICTATIME), "remount": UInt(MS_REMOUNT), "silent": UInt(MS_SILENT),
        "loud": 0, "defaults": 0, "iversion": UInt(MS_I_VERSION), "lazytime": 1 << 25,
    ]
    static let clearing: [String: UInt] = [
        "rw": UInt(MS_RDONLY), "suid": UInt(MS_NOSUID), "dev": UInt(MS_NODEV), "exec": UInt(MS_NOEXEC),
        "async": UInt(MS_SYNCHRONOUS), "nomand": UInt(MS_MANDLOCK), "atime": UInt(MS_NOATIME),
        "diratime": UInt(MS_NODIRATIME), "norelatime": UInt(MS_RELATIME),
        "nostrictatime": UInt(MS_STRICTATIME), "noiversion": UInt(MS_I_VERSION),
    ]
    /// Propagation option names to mount(2) flags (also used for rootfsPropagation).
    public static let propagationFlags: [String: UInt] = [
        "private": UInt(MS_PRIVATE), "rprivate": UInt(MS_PRIVATE) | UInt(MS_REC),
        "shared": UInt(MS_SHARED), "rshared": UInt(MS_SHARED) | UInt(MS_REC),
        "slave": UInt(MS_SLAVE), "rslave": UInt(MS_SLAVE) | UInt(MS_REC),
        "unbindable": UInt(MS_UNBINDABLE), "runbindable": UInt(MS_UNBINDABLE) | UInt(MS_REC),
    ]

    public init(_ options: [String]) {
        for option in options {
            if let flag = Self.setting[option] {
                flags |= flag
                clearedFlags &= ~flag
            } else if let flag = Self.clearing[option] {
                flags &= ~flag
                clearedFlags |= flag
            } else if let flag = Self.propagationFlags[option] {
                propagation.append(flag)
            } else {
                data.append(option)
            }
        }
    }

    /// The data argument for mount(2), comma-joined.
    public var dataString: String { data.joined(separator: ",") }
}
