import OCISpec

/// The points where container init calls engine-security's code (Capabilities/, Seccomp/,
/// Sysctls/), in runc's order around the uid switch.
enum InitSecurity {
    /// Before the uid switch: drop the bounding set (needs CAP_SETPCAP, which root still has)
    /// and keep the permitted set across setuid. A nil spec leaves capabilities alone, as runc.
    static func prepareCapabilities(_ capabilities: LinuxCapabilities?) throws {
        guard let capabilities else { return }
        let sets = try parse(capabilities)
        do {
            try CapabilityApplier.dropBoundingSet(keeping: sets.bounding)
            try CapabilityApplier.setKeepCapabilities(true)
        } catch {
            throw InitFailure("capabilities", "\(error)")
        }
    }

    /// After the uid switch: keep-caps off, then (without no_new_privs) seccomp while
    /// CAP_SYS_ADMIN is still held, then the effective/permitted/inheritable/ambient sets.
    static func applyCapabilities(_ capabilities: LinuxCapabilities?, seccomp: LinuxSeccomp?, noNewPrivileges: Bool) throws {
        if !noNewPrivileges {
            try applySeccomp(seccomp)
        }
        guard let capabilities else { return }
        let sets = try parse(capabilities)
        do {
            try CapabilityApplier.setKeepCapabilities(false)
            try CapabilityApplier.apply(sets)
        } catch {
            throw InitFailure("capabilities", "\(error)")
        }
    }

    static func applySeccomp(_ seccomp: LinuxSeccomp?) throws {
        guard let seccomp else { return }
        do {
            try SeccompFilter.apply(seccomp)
        } catch {
            throw InitFailure("seccomp", "\(error)")
        }
    }

    static func applySysctls(_ sysctls: [String: String]) throws {
        guard !sysctls.isEmpty else { return }
        do {
            try Sysctls.apply(sysctls)
        } catch {
            throw InitFailure("sysctl", "\(error)")
        }
    }

    private static func parse(_ capabilities: LinuxCapabilities) throws -> CapabilitySets {
        do {
            return try CapabilitySets(capabilities)
        } catch {
            throw InitFailure("capabilities", "\(error)")
        }
    }
}
