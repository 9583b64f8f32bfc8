/// mount(2) flags (MS_*), spelled out so callers need not import Glibc's macros.
public struct MountFlags: OptionSet, Sendable, Hashable {
    public let rawValue: UInt
    public init(rawValue: UInt) { self.rawValue = rawValue }

    public static let readOnly = MountFlags(rawValue: 1)  // MS_RDONLY
    public static let noSuid = MountFlags(rawValue: 2)  // MS_NOSUID
    public static let noDev = MountFlags(rawValue: 4)  // MS_NODEV
    public static let noExec = MountFlags(rawValue: 8)  // MS_NOEXEC
    public static let synchronous = MountFlags(rawValue: 16)  // MS_SYNCHRONOUS
    public static let remount = MountFlags(rawValue: 32)  // MS_REMOUNT
    public static let mandatoryLock = MountFlags(rawValue: 64)  // MS_MANDLOCK
    public static let dirSync = MountFlags(rawValue: 128)  // MS_DIRSYNC
    public static let noSymFollow = MountFlags(rawValue: 256)  // MS_NOSYMFOLLOW
    public static let noAtime = MountFlags(rawValue: 1024)  // MS_NOATIME
    public static let noDirAtime = MountFlags(rawValue: 2048)  // MS_NODIRATIME
    public static let bind = MountFlags(rawValue: 4096)  // MS_BIND
    public static let move = MountFlags(rawValue: 8192)  // MS_MOVE
    public static let recursive = MountFlags(rawValue: 16384)  // MS_REC
    public static let silent = MountFlags(rawValue: 32768)  // MS_SILENT
    public static let unbindable = MountFlags(rawValue: 1 << 17)  // MS_UNBINDABLE
    public static let `private` = MountFlags(rawValue: 1 << 18)  // MS_PRIVATE
    public static let slave = MountFlags(rawValue: 1 << 19)  // MS_SLAVE
    public static let shared = MountFlags(rawValue: 1 << 20)  // MS_SHARED
    public static let relAtime = MountFlags(rawValue: 1 << 21)  // MS_RELATIME
    public static let strictAtime = MountFlags(rawValue: 1 << 24)  // MS_STRICTATIME
    public static let lazyTime = MountFlags(rawValue: 1 << 25)  // MS_LAZYTIME
}

/// `mount -o` style options split into flags and filesystem data, as upstream's
/// parse_mount_options: known flag words set (or clear) flags, everything else is data.
public struct ParsedMountOptions: Sendable, Equatable {
    public var flags: MountFlags
    /// Comma-joined filesystem-specific options (e.g. "size=64m,mode=1777").
    public var data: String

    public init(flags: MountFlags = [], data: String = "") {
        self.flags = flags
        self.data = data
    }

    /// Parses options such as ["rw", "nosuid", "size=64m"]; each entry may itself hold
    /// comma-separated words.
    public static func parse(_ options: [String]) -> ParsedMountOptions {
        var flags: MountFlags = []
        var data: [String] = []
        for word in options.flatMap({ $0.split(separator: ",").map(String.init) }) where !word.isEmpty {
            if let (flag, clear) = flagWords[word] {
                if clear { flags.remove(flag) } else { flags.insert(flag) }
            } else {
                data.append(word)
            }
        }
        return ParsedMountOptions(flags: flags, data: data.joined(separator: ","))
    }

    /// Flag words and whether they clear (true) or set the flag.
    static let flagWords: [String: (MountFlags, Bool)] = [
        "ro": (.readOnly, false), "rw": (.readOnly, true),
        "nosuid": (.noSuid, false), "suid": (.noSuid, true),
        "nodev": (.noDev, false), "dev": (.noDev, true),
        "noexec": (.noExec, false), "exec": (.noExec, true),
        "sync": (.synchronous, false), "async": (.synchronous, true),
        "dirsync": (.dirSync, false), "remount": (.remount, false),
        "mand": (.mandatoryLock, false), "nomand": (.mandatoryLock, true),
        "noatime": (.noAtime, false), "atime": (.noAtime, true),
        "nodiratime": (.noDirAtime, false), "diratime": (.noDirAtime, true),
        "bind": (.bind, false), "rbind": ([.bind, .recursive], false),
        "relatime": (.relAtime, false), "norelatime": (.relAtime, true),
        "strictatime": (.strictAtime, false), "nostrictatime": (.strictAtime, true),
        "lazytime": (.lazyTime, false), "nolazytime": (.lazyTime, true),
        "private": (.private, false), "rprivate": ([.private, .recursive], false),
        "shared": (.shared, false), "rshared": ([.shared, .recursive], false),
        "slave": (.slave, false), "rslave": ([.slave, .recursive], false),
        "unbindable": (.unbindable, false), "runbindable": ([.unbindable, .recursive], false),
        "defaults": ([], false),
    ]
}
