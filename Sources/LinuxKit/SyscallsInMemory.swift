import Glibc
import Synchronization

/// A `SystemCalls` over an in-memory file tree that records every mutating call: lets the
/// sandbox and init logic be tested without root. Errors can be injected per operation.
public final class InMemorySystemCalls: SystemCalls {
    /// One recorded call, in a readable form such as "mount tmpfs tmpfs /run [nosuid] mode=755".
    public struct State: Sendable {
        public var files: [String: String] = [:]
        public var directories: [String: mode_t] = ["/": 0o755]
        public var kinds: [String: FileKind] = [:]
        public var calls: [String] = []
        /// How many times each path was read (readFile), for tests of what is read once.
        public var reads: [String: Int] = [:]
        public var hostname = ""
        /// Operation name ("mount", "sethostname", "finit_module" ...) -> errno to fail with.
        public var failures: [String: Int32] = [:]
        public var release = "6.1.0-test"
    }

    public let state = Mutex(State())

    public init() {}

    /// Adds a file (creating its parent directories).
    public func addFile(_ path: String, _ contents: String = "", permissions: mode_t = 0o644) {
        state.withLock { state in
            Self.addParents(of: path, to: &state)
            state.files[path] = contents
            state.kinds[path] = FileKind(kind: .regular, permissions: permissions)
        }
    }

    /// Adds an entry of another kind (a symlink, a device) for lstat and listing.
    public func addEntry(_ path: String, kind: FileKind) {
        state.withLock { state in
            Self.addParents(of: path, to: &state)
            state.kinds[path] = kind
            if kind.kind == .directory { state.directories[path] = kind.permissions }
        }
    }

    public var calls: [String] { state.withLock { $0.calls } }

    private static func addParents(of path: String, to state: inout State) {
        var current = ""
        for component in path.split(separator: "/").dropLast() {
            current += "/" + component
            if state.directories[current] == nil { state.directories[current] = 0o755 }
        }
    }

    private func record(_ operation: String, _ text: String) throws(SyscallError) {
        let failure: Int32? = state.withLock { state in
            state.calls.append(text)
            return state.failures[operation]
        }
        if let failure { throw SyscallError(operation, target: text, errno: failure) }
    }

    public func mount(source: String, target: String, fsType: String, flags: MountFlags, data: String) throws(SyscallError) {
        try record("mount", "mount \(fsType) \(source) \(target) flags=\(flags.rawValue) data=\(data)")
    }

    public func unmount(target: String, detach: Bool) throws(SyscallError) {
        try record("umount", "umount \(target)")
    }

    public func makeDirectory(_ path: String, mode: mode_t) throws(SyscallError) {
        try record("mkdir", "mkdir \(path) \(String(mode, radix: 8))")
        state.withLock { state in
            var current = ""
            for component in path.split(separator: "/") {
                current += "/" + component
                if state.directories[current] == nil {
                    state.directories[current] = mode
                    state.kinds[current] = FileKind(kind: .directory, permissions: mode)
                }
            }
        }
    }

    public func setHostname(_ name: String) throws(SyscallError) {
        try record("sethostname", "sethostname \(name)")
        state.withLock { $0.hostname = name }
    }

    public func writeFileInPlace(_ path: String, contents: String, mode: mode_t) throws(SyscallError) {
        try record("write", "write \(path)")
        addFile(path, contents, permissions: mode)
    }

    public func readFile(_ path: String) throws(SyscallError) -> String {
        let found: String? = state.withLock { state in
            state.reads[path, default: 0] += 1
            return state.files[path]
        }
        guard let text = found else { throw SyscallError("read", target: path, errno: ENOENT) }
        return text
    }

    public func fileExists(_ path: String) -> Bool {
        state.withLock { $0.files[path] != nil || $0.directories[path] != nil || $0.kinds[path] != nil }
    }

    public func listDirectory(_ path: String) throws(SyscallError) -> [String] {
        try state.withLock { (state) throws(SyscallError) -> [String] in
            guard state.directories[path] != nil else { throw SyscallError("opendir", target: path, errno: ENOENT) }
            let prefix = path == "/" ? "/" : path + "/"
            let all = Set(state.files.keys).union(state.kinds.keys).union(state.directories.keys)
            return all.filter { $0.hasPrefix(prefix) && $0 != path && !$0.dropFirst(prefix.count).contains("/") }
                .map { String($0.dropFirst(prefix.count)) }
        }
    }

    public func fileKind(_ path: String) -> FileKind? {
        state.withLock { state in
            if let kind = state.kinds[path] { return kind }
            if let mode = state.directories[path] { return FileKind(kind: .directory, permissions: mode) }
            if state.files[path] != nil { return FileKind(kind: .regular, permissions: 0o644) }
            return nil
        }
    }

    public func symlink(target: String, at path: String) throws(SyscallError) {
        try record("symlink", "symlink \(path) -> \(target)")
        addEntry(path, kind: FileKind(kind: .symlink, permissions: 0o777))
    }

    public func setPermissions(_ path: String, mode: mode_t) throws(SyscallError) {
        try record("chmod", "chmod \(path) \(String(mode, radix: 8))")
        state.withLock { state in
            if state.directories[path] != nil { state.directories[path] = mode }
            if var kind = state.kinds[path] {
                kind.permissions = mode
                state.kinds[path] = kind
            }
        }
    }

    public func removeFile(_ path: String) throws(SyscallError) {
        try record("unlink", "unlink \(path)")
        state.withLock { state in
            state.files[path] = nil
            state.kinds[path] = nil
        }
    }

    public func setLinkUp(_ interface: String) throws(SyscallError) {
        try record("linkup", "link up \(interface)")
    }

    public func loadModule(path: String, parameters: String, compressed: Bool) throws(SyscallError) {
        try record("finit_module", "finit_module \(path) params=\(parameters) compressed=\(compressed)")
        // A loaded module appears in /sys/module, as in the kernel.
        addEntry("/sys/module/" + KernelModuleIndex.moduleName(fromPath: path), kind: FileKind(kind: .directory, permissions: 0o755))
    }

    public func kernelRelease() -> String { state.withLock { $0.release } }

    public func sync() {
        state.withLock { $0.calls.append("sync") }
    }

    public func powerOff() -> SyscallError {
        state.withLock { $0.calls.append("poweroff") }
        return SyscallError("reboot(RB_POWER_OFF)", target: "fake", errno: EPERM)
    }
}
