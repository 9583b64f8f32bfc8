import OCISpec

/// A `LinuxSeccomp` checked entry by entry, with actions, ops and architectures decoded;
/// nothing here touches the kernel, so validation happens before any side effect.
public struct SeccompProfile: Sendable, Equatable {
    /// A decoded libseccomp action (SCMP_ACT_* value, errno/trace data included).
    public struct Action: Sendable, Equatable, Hashable {
        public let rawValue: UInt32
        public let name: String
    }

    /// One argument comparison (struct scmp_arg_cmp).
    public struct Condition: Sendable, Equatable {
        public let index: UInt32
        public let op: UInt32
        public let valueA: UInt64
        public let valueB: UInt64
    }

    /// One syscall rule after decoding; `names` still unresolved (resolution needs libseccomp).
    public struct Rule: Sendable, Equatable {
        public let entry: String
        public let names: [String]
        public let action: Action
        public let conditions: [Condition]
    }

    public let defaultAction: Action
    /// libseccomp architecture names ("x86_64", "x86", ...).
    public let architectures: [String]
    public let tsync: Bool
    public let log: Bool
    public let specAllow: Bool
    public let rules: [Rule]

    static let comparisons: [String: UInt32] = [
        "SCMP_CMP_NE": 1, "SCMP_CMP_LT": 2, "SCMP_CMP_LE": 3, "SCMP_CMP_EQ": 4,
        "SCMP_CMP_GE": 5, "SCMP_CMP_GT": 6, "SCMP_CMP_MASKED_EQ": 7,
    ]

    static let architectureNames: [String: String] = [
        "SCMP_ARCH_X86": "x86", "SCMP_ARCH_X86_64": "x86_64", "SCMP_ARCH_X32": "x32",
        "SCMP_ARCH_ARM": "arm", "SCMP_ARCH_AARCH64": "aarch64", "SCMP_ARCH_MIPS": "mips",
        "SCMP_ARCH_MIPS64": "mips64", "SCMP_ARCH_MIPS64N32": "mips64n32", "SCMP_ARCH_MIPSEL": "mipsel",
        "SCMP_ARCH_MIPSEL64": "mipsel64", "SCMP_ARCH_MIPSEL64N32": "mipsel64n32", "SCMP_ARCH_PPC": "ppc",
        "SCMP_ARCH_PPC64": "ppc64", "SCMP_ARCH_PPC64LE": "ppc64le", "SCMP_ARCH_S390": "s390",
        "SCMP_ARCH_S390X": "s390x", "SCMP_ARCH_PARISC": "parisc", "SCMP_ARCH_PARISC64": "parisc64",
        "SCMP_ARCH_RISCV64": "riscv64",
    ]

    /// EPERM, the errno of SCMP_ACT_ERRNO / SCMP_ACT_TRACE when the spec gives none (as runc).
    static let defaultErrno: UInt32 = 1

    /// Validates and decodes; the first problem throws `SeccompError` naming its entry.
    public init(_ spec: LinuxSeccomp) throws {
        defaultAction = try Self.action(spec.defaultAction, errnoRet: spec.defaultErrnoRet, entry: "defaultAction")
        var architectures: [String] = []
        for (index, name) in (spec.architectures ?? []).enumerated() {
            guard let arch = Self.architectureNames[name] else {
                throw SeccompError.invalid(entry: "architectures[\(index)]", reason: "unknown architecture '\(name)'")
            }
            architectures.append(arch)
        }
        self.architectures = architectures
        var tsync = false, log = false, specAllow = false
        for (index, flag) in (spec.flags ?? []).enumerated() {
            switch flag {
            case "SECCOMP_FILTER_FLAG_TSYNC": tsync = true
            case "SECCOMP_FILTER_FLAG_LOG": log = true
            case "SECCOMP_FILTER_FLAG_SPEC_ALLOW": specAllow = true
            default:
                throw SeccompError.unsupported(entry: "flags[\(index)]", reason: "flag '\(flag)' is not supported")
            }
        }
        (self.tsync, self.log, self.specAllow) = (tsync, log, specAllow)
        var rules: [Rule] = []
        for (index, syscall) in (spec.syscalls ?? []).enumerated() {
            let entry = "syscalls[\(index)] (\(syscall.names.prefix(4).joined(separator: ", ")))"
            guard !syscall.names.isEmpty else {
                throw SeccompError.invalid(entry: "syscalls[\(index)]", reason: "no syscall names")
            }
            if let empty = syscall.names.firstIndex(where: { $0.isEmpty || $0.utf8.contains(0) }) {
                throw SeccompError.invalid(entry: entry, reason: "names[\(empty)] is not a syscall name")
            }
            let action = try Self.action(syscall.action, errnoRet: syscall.errnoRet, entry: entry)
            var conditions: [Condition] = []
            for (argIndex, arg) in (syscall.args ?? []).enumerated() {
                guard arg.index < 6 else {
                    throw SeccompError.invalid(entry: "\(entry) args[\(argIndex)]", reason: "argument index \(arg.index) is above 5")
                }
                guard let op = Self.comparisons[arg.op] else {
                    throw SeccompError.invalid(entry: "\(entry) args[\(argIndex)]", reason: "unknown operator '\(arg.op)'")
                }
                conditions.append(Condition(index: arg.index, op: op, valueA: arg.value, valueB: arg.valueTwo ?? 0))
            }
            rules.append(Rule(entry: entry, names: syscall.names, action: action, conditions: conditions))
        }
        self.rules = rules
    }

    static func action(_ name: String, errnoRet: UInt32?, entry: String) throws -> Action {
        func withData(_ base: UInt32) throws -> UInt32 {
            let value = errnoRet ?? defaultErrno
            guard value <= 0xffff else {
                throw SeccompError.invalid(entry: entry, reason: "errnoRet \(value) does not fit 16 bits")
            }
            return base | value
        }
        let raw: UInt32
        switch name {
        case "SCMP_ACT_KILL", "SCMP_ACT_KILL_THREAD": raw = 0x0000_0000
        case "SCMP_ACT_KILL_PROCESS": raw = 0x8000_0000
        case "SCMP_ACT_TRAP": raw = 0x0003_0000
        case "SCMP_ACT_ERRNO": raw = try withData(0x0005_0000)
        case "SCMP_ACT_TRACE": raw = try withData(0x7ff0_0000)
        case "SCMP_ACT_LOG": raw = 0x7ffc_0000
        case "SCMP_ACT_ALLOW": raw = 0x7fff_0000
        case "SCMP_ACT_NOTIFY":
            throw SeccompError.unsupported(entry: entry, reason: "SCMP_ACT_NOTIFY needs a seccomp agent listener, which the agent does not provide")
        default:
            throw SeccompError.invalid(entry: entry, reason: "unknown action '\(name)'")
        }
        if errnoRet != nil, name != "SCMP_ACT_ERRNO", name != "SCMP_ACT_TRACE" {
            throw SeccompError.invalid(entry: entry, reason: "errnoRet is only valid with SCMP_ACT_ERRNO or SCMP_ACT_TRACE, not \(name)")
        }
        return Action(rawValue: raw, name: name)
    }
}
