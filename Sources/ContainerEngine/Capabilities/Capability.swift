import OCISpec

/// A Linux capability by number, parsed from its OCI name ("CAP_NET_ADMIN").
public struct Capability: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let number: Int32

    public init(number: Int32) { self.number = number }

    /// Names by number (linux/capability.h up to CAP_CHECKPOINT_RESTORE, 40).
    static let names: [String] = [
        "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
        "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE",
        "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE",
        "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT",
        "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
        "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG",
        "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
    ]

    static let numbers: [String: Int32] = Dictionary(
        uniqueKeysWithValues: names.enumerated().map { ($0.element, Int32($0.offset)) })

    /// Parses "CAP_SYS_ADMIN"; anything else is `CapabilityError.unknown` naming it.
    public init(name: String) throws {
        guard let number = Self.numbers[name] else { throw CapabilityError.unknown(name) }
        self.number = number
    }

    /// The highest capability this table knows.
    public static var highestKnown: Int32 { Int32(names.count - 1) }

    public var name: String {
        Int(number) < Self.names.count && number >= 0 ? Self.names[Int(number)] : "CAP_\(number)"
    }

    public var description: String { name }

    public static func < (lhs: Capability, rhs: Capability) -> Bool { lhs.number < rhs.number }
}

/// Capability parsing and application failures.
public enum CapabilityError: Error, Equatable, CustomStringConvertible {
    /// A name that is not a Linux capability.
    case unknown(String)
    /// A system call failed; `operation` names it and the capability when there is one.
    case system(operation: String, errno: Int32)

    public var description: String {
        switch self {
        case let .unknown(name): return "unknown capability \"\(name)\""
        case let .system(operation, errno): return "capabilities: \(operation) failed (errno \(errno))"
        }
    }
}

/// The five sets of `process.capabilities`, parsed (an unknown name in any set is an error).
public struct CapabilitySets: Sendable, Equatable {
    public var bounding: Set<Capability>
    public var effective: Set<Capability>
    public var inheritable: Set<Capability>
    public var permitted: Set<Capability>
    public var ambient: Set<Capability>

    public init(bounding: Set<Capability> = [], effective: Set<Capability> = [], inheritable: Set<Capability> = [],
                permitted: Set<Capability> = [], ambient: Set<Capability> = []) {
        self.bounding = bounding
        self.effective = effective
        self.inheritable = inheritable
        self.permitted = permitted
        self.ambient = ambient
    }

    /// Parses the spec; a nil spec means every set is empty (the process gets no capabilities).
    public init(_ spec: LinuxCapabilities?) throws {
        func parse(_ names: [String]?) throws -> Set<Capability> {
            Set(try (names ?? []).map { try Capability(name: $0) })
        }
        self.init(bounding: try parse(spec?.bounding), effective: try parse(spec?.effective),
                  inheritable: try parse(spec?.inheritable), permitted: try parse(spec?.permitted),
                  ambient: try parse(spec?.ambient))
    }
}
