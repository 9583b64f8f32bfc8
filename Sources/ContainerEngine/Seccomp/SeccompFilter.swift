import CSeccomp
import OCISpec
#if canImport(Glibc)
import Glibc
#endif

/// A libseccomp filter built from a validated profile. Build it, then `load()` it in the
/// container's init process (load is the only step that changes the calling process).
public final class SeccompFilter {
    /// The decoded profile the filter was built from.
    public let profile: SeccompProfile
    /// Syscall names this libseccomp does not know, skipped (as runc does) with a warning each.
    public private(set) var warnings: [String] = []
    private let context: scmp_filter_ctx

    /// Validates `spec` and builds the filter (no kernel change yet).
    public convenience init(_ spec: LinuxSeccomp) throws {
        try self.init(profile: SeccompProfile(spec))
    }

    public init(profile: SeccompProfile) throws {
        self.profile = profile
        guard let context = seccomp_init(profile.defaultAction.rawValue) else {
            throw SeccompError.library(operation: "seccomp_init(\(profile.defaultAction.name))", code: -EINVAL)
        }
        self.context = context
        try configure()
    }

    deinit { seccomp_release(context) }

    private func configure() throws {
        // no_new_privs is the spec's own setting, applied by the caller; libseccomp would
        // otherwise force it on every load.
        try attribute(SCMP_FLTATR_CTL_NNP, 0, "no_new_privs off")
        if profile.tsync { try attribute(SCMP_FLTATR_CTL_TSYNC, 1, "SECCOMP_FILTER_FLAG_TSYNC") }
        if profile.log { try attribute(SCMP_FLTATR_CTL_LOG, 1, "SECCOMP_FILTER_FLAG_LOG") }
        if profile.specAllow { try attribute(SCMP_FLTATR_CTL_SSB, 1, "SECCOMP_FILTER_FLAG_SPEC_ALLOW") }
        for arch in profile.architectures {
            let token = seccomp_arch_resolve_name(arch)
            guard token != 0 else {
                throw SeccompError.unsupported(entry: "architectures", reason: "libseccomp does not know '\(arch)'")
            }
            let result = seccomp_arch_add(context, token)
            guard result == 0 || result == -EEXIST else {
                throw SeccompError.library(operation: "seccomp_arch_add(\(arch))", code: result)
            }
        }
        for rule in profile.rules { try add(rule) }
    }

    private func attribute(_ attr: scmp_filter_attr, _ value: UInt32, _ what: String) throws {
        let result = seccomp_attr_set(context, attr, value)
        guard result == 0 else { throw SeccompError.library(operation: "seccomp_attr_set(\(what))", code: result) }
    }

    private func add(_ rule: SeccompProfile.Rule) throws {
        // libseccomp rejects a rule whose action is the default one; it would change nothing.
        guard rule.action != profile.defaultAction else { return }
        let comparisons = rule.conditions.map {
            scmp_arg_cmp(arg: $0.index, op: scmp_compare(rawValue: $0.op), datum_a: $0.valueA, datum_b: $0.valueB)
        }
        // Several conditions on one argument cannot share a rule: like runc, each becomes its
        // own rule (so they OR); otherwise all conditions form one rule (they AND).
        let indices = rule.conditions.map(\.index)
        let groups: [[scmp_arg_cmp]] = Set(indices).count == indices.count ? [comparisons] : comparisons.map { [$0] }
        for name in rule.names {
            let number = seccomp_syscall_resolve_name(name)
            guard number != __NR_SCMP_ERROR else {
                warnings.append("\(rule.entry): unknown syscall '\(name)' skipped")
                continue
            }
            for group in groups {
                let result = group.withUnsafeBufferPointer {
                    seccomp_rule_add_array(context, rule.action.rawValue, number, UInt32($0.count), $0.baseAddress)
                }
                guard result == 0 else {
                    throw SeccompError.library(operation: "seccomp_rule_add \(name) (\(rule.entry), \(rule.action.name))", code: result)
                }
            }
        }
    }

    /// Installs the filter in the calling process (all threads when TSYNC was asked for).
    /// Without no_new_privs this needs CAP_SYS_ADMIN, hence runc's order: before dropping caps.
    public func load() throws {
        let result = seccomp_load(context)
        guard result == 0 else { throw SeccompError.library(operation: "seccomp_load", code: result) }
    }

    /// The compiled BPF program (what `load()` would install), for inspection and tests.
    public func exportBPF() throws -> [UInt8] {
        // A temp file, not a pipe: a large filter would block on a full pipe.
        guard let file = tmpfile() else { throw SeccompError.library(operation: "tmpfile for export", code: -errno) }
        defer { fclose(file) }
        let fd = fileno(file)
        let result = seccomp_export_bpf(context, fd)
        guard result == 0 else { throw SeccompError.library(operation: "seccomp_export_bpf", code: result) }
        var out: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        var offset: off_t = 0
        while true {
            let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, offset) }
            if n <= 0 { break }
            out += buffer[0..<n]
            offset += off_t(n)
        }
        return out
    }
}

extension SeccompFilter {
    /// Validates, builds and loads `spec` into the calling process; returns the warnings.
    @discardableResult
    public static func apply(_ spec: LinuxSeccomp) throws -> [String] {
        let filter = try SeccompFilter(spec)
        try filter.load()
        return filter.warnings
    }
}
