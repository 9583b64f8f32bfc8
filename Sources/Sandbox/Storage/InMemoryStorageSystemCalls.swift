import Glibc
import LinuxKit
import Synchronization

/// A `StorageSystemCalls` over the file tree of an `InMemorySystemCalls`: calls are recorded
/// in that fake's call list (one order for mounts and chowns), failures injected the same way
/// (`failures["chown"]`, `["statfs"]`, `["swapon"]` ...). For the storage drivers' unit tests.
public final class InMemoryStorageSystemCalls: StorageSystemCalls {
    public let base: InMemorySystemCalls

    struct Extra {
        var owners: [String: (uid: UInt32, gid: UInt32)] = [:]
        var modes: [String: mode_t] = [:]
        var statuses: [String: FileStatus] = [:]
        var fileSystems: [String: FileSystemStats] = [:]
        var links: [String: String] = [:]
    }

    let extra = Mutex(Extra())

    public init(base: InMemorySystemCalls) {
        self.base = base
    }

    /// Sets what status() reports for a path (device nodes, sizes, mtimes, owners).
    public func setStatus(_ path: String, _ status: FileStatus) {
        extra.withLock { $0.statuses[path] = status }
        base.addEntry(path, kind: FileKind(kind: Self.baseKind(status.kind), permissions: status.permissions))
    }

    /// Sets what statfs reports for a path.
    public func setFileSystem(_ path: String, _ stats: FileSystemStats) {
        extra.withLock { $0.fileSystems[path] = stats }
    }

    /// The owner chown gave a path, if any.
    public func owner(of path: String) -> (uid: UInt32, gid: UInt32)? {
        extra.withLock { $0.owners[path] }
    }

    private func record(_ operation: String, _ text: String) throws(SyscallError) {
        let failure: Int32? = base.state.withLock { state in
            state.calls.append(text)
            return state.failures[operation]
        }
        if let failure { throw SyscallError(operation, target: text, errno: failure) }
    }

    private static func baseKind(_ kind: FileStatus.Kind) -> FileKind.Kind {
        switch kind {
        case .regular: return .regular
        case .directory: return .directory
        case .symlink: return .symlink
        default: return .other
        }
    }

    public func status(_ path: String, followLinks: Bool) -> FileStatus? {
        let (explicit, owner, link) = extra.withLock { ($0.statuses[path], $0.owners[path], $0.links[path]) }
        if followLinks, let link { return status(link.hasPrefix("/") ? link : path + "/../" + link, followLinks: true) }
        var result: FileStatus
        if let explicit {
            result = explicit
            if let kind = base.fileKind(path) { result.permissions = kind.permissions }
        } else {
            guard let kind = base.fileKind(path) else { return nil }
            let mapped: FileStatus.Kind
            switch kind.kind {
            case .regular: mapped = .regular
            case .directory: mapped = .directory
            case .symlink: mapped = .symlink
            case .other: mapped = .other
            }
            let size = base.state.withLock { $0.files[path].map { Int64($0.utf8.count) } } ?? 0
            result = FileStatus(kind: mapped, permissions: kind.permissions, size: size)
        }
        if let owner {
            result.uid = owner.uid
            result.gid = owner.gid
        }
        return result
    }

    public func changeOwner(_ path: String, uid: UInt32?, gid: UInt32?) throws(SyscallError) {
        try record("chown", "chown \(path) \(uid.map(String.init) ?? "-"):\(gid.map(String.init) ?? "-")")
        let current = status(path, followLinks: false)
        extra.withLock { extra in
            extra.owners[path] = (uid ?? current?.uid ?? 0, gid ?? current?.gid ?? 0)
        }
    }

    public func changeMode(_ path: String, mode: mode_t) throws(SyscallError) {
        try record("chmod", "chmod \(path) \(String(mode, radix: 8))")
        base.state.withLock { state in
            if state.directories[path] != nil { state.directories[path] = mode }
            if var kind = state.kinds[path] {
                kind.permissions = mode
                state.kinds[path] = kind
            }
        }
    }

    public func fileSystemStats(_ path: String) throws(SyscallError) -> FileSystemStats {
        try record("statfs", "statfs \(path)")
        guard let stats = extra.withLock({ $0.fileSystems[path] }) else { throw SyscallError("statfs", target: path, errno: ENOENT) }
        return stats
    }

    public func readBytes(_ path: String, limit: Int) throws(SyscallError) -> [UInt8] {
        guard let text = base.state.withLock({ $0.files[path] }) else { throw SyscallError("open for reading", target: path, errno: ENOENT) }
        return Array(text.utf8.prefix(limit))
    }

    public func writeBytes(_ path: String, _ bytes: [UInt8], mode: mode_t) throws(SyscallError) {
        try record("write", "write \(path) \(bytes.count) bytes")
        base.addFile(path, String(decoding: bytes, as: UTF8.self), permissions: mode)
    }

    public func readLink(_ path: String) throws(SyscallError) -> String {
        guard let link = extra.withLock({ $0.links[path] }) else { throw SyscallError("readlink", target: path, errno: EINVAL) }
        return link
    }

    /// Adds a symlink whose target readLink reports.
    public func addLink(_ path: String, target: String) {
        base.addEntry(path, kind: FileKind(kind: .symlink, permissions: 0o777))
        extra.withLock { $0.links[path] = target }
    }

    public func removeDirectory(_ path: String) throws(SyscallError) {
        try record("rmdir", "rmdir \(path)")
        base.state.withLock { state in
            state.directories[path] = nil
            state.kinds[path] = nil
        }
    }

    public func rename(_ from: String, to: String) throws(SyscallError) {
        try record("rename", "rename \(from) \(to)")
        base.state.withLock { state in
            state.files[to] = state.files[from]
            state.files[from] = nil
            state.kinds[to] = state.kinds[from]
            state.kinds[from] = nil
        }
    }

    public func swapOn(_ path: String) throws(SyscallError) {
        try record("swapon", "swapon \(path)")
    }
}
