import Glibc
import LinuxKit
import OCISpec

/// The namespaces of a container's init that differ from the agent's, opened by the agent so
/// an exec joins exactly those: the child opens them again through /proc/<agent>/fd/N, which
/// names the pinned namespace whatever became of the init's pid meanwhile.
struct PinnedNamespaces {
    /// What the exec joins (user first in the child's order), as paths to the pinned descriptors.
    let join: [LinuxNamespace]
    /// The pid namespace, when it differs: the agent enters it before the clone.
    let pidPath: String?
    private let fds: [Int32]

    /// Opens every namespace of `pid` that differs from the agent's. Fails closed: one that
    /// cannot be read is an error, never "the same as the agent's".
    init(of pid: pid_t) throws(SyscallError) {
        let agent = getpid()
        var join: [LinuxNamespace] = []
        var pidPath: String?
        var fds: [Int32] = []
        do throws(SyscallError) {
            for type in ["user", "ipc", "uts", "network", "cgroup", "mount", "pid"] {
                guard try Container.differs(type, pid) else { continue }
                let name = NamespaceType.procName(type) ?? type
                let path = "/proc/\(pid)/ns/\(name)"
                let fd = open(path, O_RDONLY | O_CLOEXEC)
                guard fd >= 0 else { throw SyscallError("open", target: path, errno: errno) }
                fds.append(fd)
                let pinned = "/proc/\(agent)/fd/\(fd)"
                if type == "pid" {
                    pidPath = pinned
                } else {
                    join.append(LinuxNamespace(type: type, path: pinned))
                }
            }
        } catch {
            for fd in fds { Glibc.close(fd) }
            throw error
        }
        self.join = join
        self.pidPath = pidPath
        self.fds = fds
    }

    /// Once the exec's child has joined (its launch returned).
    func close() {
        for fd in fds { Glibc.close(fd) }
    }
}
