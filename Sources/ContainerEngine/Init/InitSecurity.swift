import OCISpec

/// The points where container init calls engine-security's code (Capabilities/, Seccomp/,
/// Sysctls/). Until their API is wired here, a spec that asks for a feature fails loudly
/// instead of running the workload with less isolation than it asked for.
enum InitSecurity {
    /// Before the uid switch: bounding set and keep-caps.
    static func prepareCapabilities(_ capabilities: LinuxCapabilities?) throws {
        guard capabilities != nil else { return }
        throw InitFailure("capabilities", "not supported by this build yet")
    }

    /// After the uid switch: effective, permitted, inheritable and ambient sets.
    static func applyCapabilities(_ capabilities: LinuxCapabilities?) throws {
        guard capabilities != nil else { return }
        throw InitFailure("capabilities", "not supported by this build yet")
    }

    static func applySeccomp(_ seccomp: LinuxSeccomp?, noNewPrivileges: Bool) throws {
        guard seccomp != nil else { return }
        throw InitFailure("seccomp", "not supported by this build yet")
    }

    static func applySysctls(_ sysctls: [String: String]) throws {
        guard sysctls.isEmpty else { throw InitFailure("sysctl", "not supported by this build yet") }
    }
}
