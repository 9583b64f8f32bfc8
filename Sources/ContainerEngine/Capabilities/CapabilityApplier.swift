import CCap
import CLinuxShim
#if canImport(Glibc)
import Glibc
#endif

/// The steps runc takes around setuid, as separate calls so the container init can
/// interleave them with its own:
///
///     try CapabilityApplier.dropBoundingSet(keeping: sets.bounding)   // still root, CAP_SETPCAP
///     try CapabilityApplier.setKeepCapabilities(true)                 // permitted survives setuid
///     setgroups / setgid / setuid
///     try CapabilityApplier.setKeepCapabilities(false)
///     (seccomp here when no_new_privs is off: loading needs CAP_SYS_ADMIN)
///     let warnings = try CapabilityApplier.apply(sets)               // E/P/I, then ambient
///
/// All of these act on the calling thread only (capabilities are per thread), which is right
/// for the single-threaded `kata-agent init`.
public enum CapabilityApplier {
    static let prSetKeepCaps: Int32 = 8
    static let prCapBSetDrop: Int32 = 24
    static let prCapAmbient: Int32 = 47
    static let prCapAmbientRaise: UInt = 2
    static let prCapAmbientClearAll: UInt = 4

    /// The highest capability the running kernel knows (/proc/sys/kernel/cap_last_cap).
    public static func kernelLastCapability() -> Int32 {
        guard let file = fopen("/proc/sys/kernel/cap_last_cap", "r") else { return Capability.highestKnown }
        defer { fclose(file) }
        var line = [CChar](repeating: 0, count: 16)
        guard fgets(&line, 16, file) != nil else { return Capability.highestKnown }
        let text = String(decoding: line.prefix { $0 != 0 && $0 != 10 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return Int32(text) ?? Capability.highestKnown
    }

    /// PR_SET_KEEPCAPS: whether the permitted set survives a setuid away from root.
    public static func setKeepCapabilities(_ keep: Bool) throws {
        guard security_prctl(prSetKeepCaps, keep ? 1 : 0, 0, 0, 0) == 0 else {
            throw CapabilityError.system(operation: "prctl(PR_SET_KEEPCAPS, \(keep ? 1 : 0))", errno: errno)
        }
    }

    /// PR_CAPBSET_DROP for every capability the kernel knows that is not in `keeping`.
    public static func dropBoundingSet(keeping: Set<Capability>) throws {
        let last = kernelLastCapability()
        for number in 0...max(last, 0) where !keeping.contains(Capability(number: number)) {
            guard security_prctl(prCapBSetDrop, UInt(number), 0, 0, 0) == 0 else {
                throw CapabilityError.system(operation: "prctl(PR_CAPBSET_DROP, \(Capability(number: number)))", errno: errno)
            }
        }
    }

    /// Sets effective, permitted and inheritable with cap_set_proc, then the ambient set
    /// (cleared, then raised). Capabilities the kernel does not know are skipped; ambient
    /// capabilities missing from permitted or inheritable cannot be raised. Both are returned
    /// as warnings, as runc logs them.
    @discardableResult
    public static func apply(_ sets: CapabilitySets) throws -> [String] {
        let last = kernelLastCapability()
        var warnings: [String] = []
        func supported(_ set: Set<Capability>, _ label: String) -> [cap_value_t] {
            set.sorted().compactMap { capability in
                guard capability.number <= last else {
                    warnings.append("\(label): \(capability) is unknown to this kernel, skipped")
                    return nil
                }
                return cap_value_t(capability.number)
            }
        }
        guard let caps = cap_init() else { throw CapabilityError.system(operation: "cap_init", errno: errno) }
        defer { cap_free(UnsafeMutableRawPointer(caps)) }
        let flags: [(cap_flag_t, Set<Capability>, String)] = [
            (CAP_EFFECTIVE, sets.effective, "effective"), (CAP_PERMITTED, sets.permitted, "permitted"),
            (CAP_INHERITABLE, sets.inheritable, "inheritable"),
        ]
        for (flag, set, label) in flags {
            let values = supported(set, label)
            guard !values.isEmpty else { continue }
            let result = values.withUnsafeBufferPointer { cap_set_flag(caps, flag, Int32($0.count), $0.baseAddress, CAP_SET) }
            guard result == 0 else { throw CapabilityError.system(operation: "cap_set_flag(\(label))", errno: errno) }
        }
        guard cap_set_proc(caps) == 0 else {
            throw CapabilityError.system(operation: "cap_set_proc (effective \(sets.effective.sorted()), permitted \(sets.permitted.sorted()))", errno: errno)
        }
        guard security_prctl(prCapAmbient, prCapAmbientClearAll, 0, 0, 0) == 0 || errno == EINVAL else {
            throw CapabilityError.system(operation: "prctl(PR_CAP_AMBIENT_CLEAR_ALL)", errno: errno)
        }
        for value in supported(sets.ambient, "ambient") {
            let capability = Capability(number: Int32(value))
            guard sets.permitted.contains(capability), sets.inheritable.contains(capability) else {
                warnings.append("ambient: \(capability) is not in both permitted and inheritable, not raised")
                continue
            }
            guard security_prctl(prCapAmbient, prCapAmbientRaise, UInt(value), 0, 0) == 0 else {
                throw CapabilityError.system(operation: "prctl(PR_CAP_AMBIENT_RAISE, \(capability))", errno: errno)
            }
        }
        return warnings
    }
}
