#if canImport(Glibc)
import Glibc
#endif

/// A sysctl the container may not set, or could not set; carries the key so the server can
/// answer INVALID_ARGUMENT naming it.
public enum SysctlError: Error, Equatable, CustomStringConvertible {
    /// The key is not allowed for this container (reason says why).
    case rejected(key: String, reason: String)
    /// Writing /proc/sys/<key> failed.
    case write(key: String, path: String, errno: Int32)

    /// The sysctl key concerned.
    public var key: String {
        switch self {
        case let .rejected(key, _), let .write(key, _, _): return key
        }
    }

    public var description: String {
        switch self {
        case let .rejected(key, reason): return "sysctl \"\(key)\" rejected: \(reason)"
        case let .write(key, path, errno):
            return "sysctl \"\(key)\": writing \(path) failed: \(String(cString: strerror(errno))) (errno \(errno))"
        }
    }
}

/// Upstream Kata's sysctl rules (rustjail validator.rs) and their application.
public enum Sysctls {
    /// Namespaced IPC keys: allowed only when the container has its own ipc namespace.
    static let ipcKeys: Set<String> = [
        "kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem", "kernel.shmall", "kernel.shmmax",
        "kernel.shmmni", "kernel.shm_rmid_forced",
    ]

    /// Checks every key. `hasIPCNamespace` / `hasUTSNamespace`: the spec asks for a new (or
    /// joins a) namespace of that type. Keys are checked in sorted order so the error is stable.
    public static func validate(_ sysctls: [String: String], hasIPCNamespace: Bool, hasUTSNamespace: Bool) throws {
        for key in sysctls.keys.sorted() {
            try validate(key: key, hasIPCNamespace: hasIPCNamespace, hasUTSNamespace: hasUTSNamespace)
        }
    }

    static func validate(key: String, hasIPCNamespace: Bool, hasUTSNamespace: Bool) throws {
        guard !key.isEmpty, !key.contains("/"), !key.utf8.contains(0), !key.split(separator: ".", omittingEmptySubsequences: false).contains(where: { $0.isEmpty || $0 == ".." }) else {
            throw SysctlError.rejected(key: key, reason: "not a sysctl name")
        }
        if ipcKeys.contains(key) || key.hasPrefix("fs.mqueue.") {
            guard hasIPCNamespace else {
                throw SysctlError.rejected(key: key, reason: "IPC sysctls need the container to have its own ipc namespace")
            }
            return
        }
        if key.hasPrefix("net.") { return }
        if key == "kernel.domainname" {
            guard hasUTSNamespace else {
                throw SysctlError.rejected(key: key, reason: "kernel.domainname needs the container to have its own uts namespace")
            }
            return
        }
        if key == "kernel.hostname" {
            throw SysctlError.rejected(key: key, reason: "set the hostname through the spec's hostname field")
        }
        throw SysctlError.rejected(key: key, reason: "not a namespaced sysctl the container may set")
    }

    /// The /proc/sys file of a key ("net.ipv4.ip_forward" -> /proc/sys/net/ipv4/ip_forward).
    public static func path(for key: String, procSys: String = "/proc/sys") -> String {
        procSys + "/" + key.replacingDots()
    }

    /// Writes each value (keys sorted); call after validate, inside the container's namespaces.
    public static func apply(_ sysctls: [String: String], procSys: String = "/proc/sys") throws {
        for key in sysctls.keys.sorted() {
            let file = path(for: key, procSys: procSys)
            let value = Array((sysctls[key] ?? "").utf8)
            let fd = open(file, O_WRONLY | O_CLOEXEC | O_TRUNC)
            guard fd >= 0 else { throw SysctlError.write(key: key, path: file, errno: errno) }
            let written = value.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            let code = errno
            close(fd)
            guard written == value.count else { throw SysctlError.write(key: key, path: file, errno: written < 0 ? code : EIO) }
        }
    }
}

private extension String {
    func replacingDots() -> String { String(map { $0 == "." ? "/" : $0 }) }
}
