import OCISpec

/// A validated device cgroup rule: type, optional major/minor (nil = any) and access bits.
public struct DeviceRule: Sendable, Equatable {
    /// Device kind a rule applies to.
    public enum Kind: Character, Sendable {
        case all = "a", char = "c", block = "b"
    }

    /// Access bits, as the BPF device context encodes them (mknod 1, read 2, write 4).
    public struct Access: OptionSet, Sendable, Hashable {
        public let rawValue: UInt32
        public init(rawValue: UInt32) { self.rawValue = rawValue }
        public static let mknod = Access(rawValue: 1)
        public static let read = Access(rawValue: 2)
        public static let write = Access(rawValue: 4)
        public static let all: Access = [.mknod, .read, .write]
    }

    public var allow: Bool
    public var kind: Kind
    public var major: Int64?
    public var minor: Int64?
    public var access: Access

    public init(allow: Bool, kind: Kind, major: Int64?, minor: Int64?, access: Access) {
        self.allow = allow
        self.kind = kind
        self.major = major
        self.minor = minor
        self.access = access
    }

    /// Validates an OCI rule; absent fields are wildcards, a negative number means any as well.
    public init(_ rule: LinuxDeviceCgroup) throws {
        allow = rule.allow
        switch rule.type ?? "a" {
        case "a", "": kind = .all
        case "c": kind = .char
        case "b": kind = .block
        default: throw CgroupError.invalidResource("device rule type '\(rule.type ?? "")' (want a, c or b)")
        }
        for (name, value) in [("major", rule.major), ("minor", rule.minor)] {
            if let value, value > Int64(UInt32.max) {
                throw CgroupError.invalidResource("device rule \(name) \(value) is out of range")
            }
        }
        major = rule.major.flatMap { $0 < 0 ? nil : $0 }
        minor = rule.minor.flatMap { $0 < 0 ? nil : $0 }
        var bits: Access = []
        for character in rule.access ?? "rwm" {
            switch character {
            case "r": bits.insert(.read)
            case "w": bits.insert(.write)
            case "m": bits.insert(.mknod)
            default: throw CgroupError.invalidResource("device rule access '\(rule.access ?? "")' (want r, w, m)")
            }
        }
        access = bits.isEmpty ? .all : bits
    }

    /// Whether the rule matches every device with every access ("a *:* rwm").
    public var isWildcard: Bool { kind == .all && major == nil && minor == nil && access == .all }

    /// The devices.allow/deny line ("c 1:3 rwm", or "a" for everything).
    public var v1Line: String {
        if isWildcard { return "a" }
        let majorText = major.map(String.init) ?? "*"
        let minorText = minor.map(String.init) ?? "*"
        var accessText = ""
        if access.contains(.read) { accessText += "r" }
        if access.contains(.write) { accessText += "w" }
        if access.contains(.mknod) { accessText += "m" }
        return "\(kind.rawValue) \(majorText):\(minorText) \(accessText)"
    }

    /// The devices every container gets besides its spec's rules (runc's and upstream Kata's
    /// lists together): mknod of any char/block node; null, zero, full, random, urandom, tty,
    /// console, ptmx, /dev/pts/* and /dev/net/tun.
    public static let defaultAllowed: [LinuxDeviceCgroup] = [
        LinuxDeviceCgroup(allow: true, type: "c", major: nil, minor: nil, access: "m"),
        LinuxDeviceCgroup(allow: true, type: "b", major: nil, minor: nil, access: "m"),
        LinuxDeviceCgroup(allow: true, type: "c", major: 1, minor: 3, access: "rwm"),
        LinuxDeviceCgroup(allow: true, type: "c", major: 1, minor: 5, access: "rwm"),
        LinuxDeviceCgroup(allow: true, type: "c", major: 1, minor: 7, access: "rwm"),
        LinuxDeviceCgroup(allow: true, type: "c", major: 1, minor: 8, access: "rwm"),
        LinuxDeviceCgroup(allow: true, type: "c", major: 1, minor: 9, access: "rwm"),
        LinuxDeviceCgroup(allow: true, type: "c", major: 5, minor: 0, access: "rwm"),
        LinuxDeviceCgroup(allow: true, type: "c", major: 5, minor: 1, access: "rwm"),
        LinuxDeviceCgroup(allow: true, type: "c", major: 5, minor: 2, access: "rwm"),
        LinuxDeviceCgroup(allow: true, type: "c", major: 136, minor: nil, access: "rwm"),
        LinuxDeviceCgroup(allow: true, type: "c", major: 10, minor: 200, access: "rwm"),
    ]

    /// The device rules a new container's cgroup gets, in upstream Kata's order: deny every
    /// device, the spec's resources.devices (a privileged spec's "allow a" opens all again),
    /// then `defaultAllowed`, then "rwm" for each linux.devices node (the container must be
    /// able to use the nodes it is given). The first rule matters: the Kata runtime sends no
    /// device rules at all, and a new cgroup inherits its parent's, which allow everything.
    /// Pipes ("p") need no rule; "u" (unbuffered char) counts as "c".
    public static func containerRules(resources: [LinuxDeviceCgroup]?, devices: [LinuxDevice]?) -> [LinuxDeviceCgroup] {
        var rules = [LinuxDeviceCgroup(allow: false, type: "a", major: nil, minor: nil, access: "rwm")]
        rules += resources ?? []
        rules += defaultAllowed
        for device in devices ?? [] where device.type != "p" {
            rules.append(LinuxDeviceCgroup(allow: true, type: device.type == "b" ? "b" : "c",
                                           major: device.major, minor: device.minor, access: "rwm"))
        }
        return rules
    }

}
