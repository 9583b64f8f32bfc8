import CLinuxShim
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Glibc

/// The system calls behind init duties and the sandbox domain, as a seam: logic is tested
/// with a fake, the kernel with `LinuxSystemCalls` in root tests.
public protocol SystemCalls: Sendable {
    func mount(source: String, target: String, fsType: String, flags: MountFlags, data: String) throws(SyscallError)
    func unmount(target: String, detach: Bool) throws(SyscallError)
    /// mkdir -p with `mode` for the directories it creates.
    func makeDirectory(_ path: String, mode: mode_t) throws(SyscallError)
    func setHostname(_ name: String) throws(SyscallError)
    /// Replaces the contents of an existing file in place (O_TRUNC, same inode) so a bind
    /// mount of it keeps showing the new contents; creates it when missing.
    func writeFileInPlace(_ path: String, contents: String, mode: mode_t) throws(SyscallError)
    func readFile(_ path: String) throws(SyscallError) -> String
    func fileExists(_ path: String) -> Bool
    /// Entries of a directory (names only, unsorted); throws when it cannot be listed.
    func listDirectory(_ path: String) throws(SyscallError) -> [String]
    /// lstat of a path: nil when it does not exist.
    func fileKind(_ path: String) -> FileKind?
    func symlink(target: String, at path: String) throws(SyscallError)
    /// chmod(2): exact permissions regardless of the umask.
    func setPermissions(_ path: String, mode: mode_t) throws(SyscallError)
    /// unlink(2); a missing file is not an error.
    func removeFile(_ path: String) throws(SyscallError)
    func setLinkUp(_ interface: String) throws(SyscallError)
    /// finit_module(2) on the file at `path` with space-separated `parameters`;
    /// `compressed` passes MODULE_INIT_COMPRESSED_FILE.
    func loadModule(path: String, parameters: String, compressed: Bool) throws(SyscallError)
    /// uname(2) release, e.g. "6.1.0-56-cloud-amd64".
    func kernelRelease() -> String
    func sync()
    /// reboot(RB_POWER_OFF); returns only on failure.
    func powerOff() -> SyscallError
}

/// What `lstat` says about a path.
public struct FileKind: Sendable, Equatable {
    public enum Kind: Sendable, Equatable { case regular, directory, symlink, other }
    public var kind: Kind
    /// Permission bits (mode & 0o7777).
    public var permissions: mode_t

    public init(kind: Kind, permissions: mode_t) {
        self.kind = kind
        self.permissions = permissions
    }

    /// A regular file with any execute bit.
    public var isExecutableFile: Bool { kind == .regular && permissions & 0o111 != 0 }
}

/// The real kernel.
public struct LinuxSystemCalls: SystemCalls {
    public init() {}

    public func mount(source: String, target: String, fsType: String, flags: MountFlags, data: String) throws(SyscallError) {
        let rc = core_mount(source, target, fsType.isEmpty ? nil : fsType, flags.rawValue, data.isEmpty ? nil : data)
        if rc < 0 {
            throw SyscallError("mount \(fsType.isEmpty ? "" : fsType + " ")\(source) on", target: target, errno: -rc,
                               detail: data.isEmpty ? "" : "options \(data)")
        }
    }

    public func unmount(target: String, detach: Bool) throws(SyscallError) {
        let mntDetach: Int32 = 2
        try SyscallError.check(core_umount(target, detach ? mntDetach : 0), "umount", target: target)
    }

    public func makeDirectory(_ path: String, mode: mode_t) throws(SyscallError) {
        var current = path.hasPrefix("/") ? "" : "."
        for component in path.split(separator: "/") {
            current += "/" + component
            if mkdir(current, mode) != 0 {
                let code = errno
                var info = stat()
                if code == EEXIST, stat(current, &info) == 0, info.st_mode & S_IFMT == S_IFDIR { continue }
                throw SyscallError("mkdir", target: current, errno: code)
            }
        }
    }

    public func setHostname(_ name: String) throws(SyscallError) {
        try SyscallError.check(core_sethostname(name, name.utf8.count), "sethostname", target: name)
    }

    public func writeFileInPlace(_ path: String, contents: String, mode: mode_t) throws(SyscallError) {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode)
        guard fd >= 0 else { throw SyscallError.last("open for writing", target: path) }
        defer { close(fd) }
        let bytes = Array(contents.utf8)
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + offset, bytes.count - offset) }
            if written < 0 {
                if errno == EINTR { continue }
                throw SyscallError.last("write", target: path)
            }
            offset += written
        }
    }

    public func readFile(_ path: String) throws(SyscallError) -> String {
        try WholeFile.text(path)
    }

    public func fileExists(_ path: String) -> Bool {
        access(path, F_OK) == 0
    }

    public func listDirectory(_ path: String) throws(SyscallError) -> [String] {
        guard let dir = opendir(path) else { throw SyscallError.last("opendir", target: path) }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    public func fileKind(_ path: String) -> FileKind? {
        var info = stat()
        guard lstat(path, &info) == 0 else { return nil }
        let kind: FileKind.Kind
        switch info.st_mode & S_IFMT {
        case S_IFREG: kind = .regular
        case S_IFDIR: kind = .directory
        case S_IFLNK: kind = .symlink
        default: kind = .other
        }
        return FileKind(kind: kind, permissions: info.st_mode & 0o7777)
    }

    public func symlink(target: String, at path: String) throws(SyscallError) {
        if Glibc.symlink(target, path) != 0 { throw SyscallError.last("symlink \(target) at", target: path) }
    }

    public func setPermissions(_ path: String, mode: mode_t) throws(SyscallError) {
        if chmod(path, mode) != 0 { throw SyscallError.last("chmod \(String(mode, radix: 8))", target: path) }
    }

    public func removeFile(_ path: String) throws(SyscallError) {
        if unlink(path) != 0 && errno != ENOENT { throw SyscallError.last("unlink", target: path) }
    }

    public func setLinkUp(_ interface: String) throws(SyscallError) {
        try SyscallError.check(core_link_up(interface), "set link up", target: interface)
    }

    public func loadModule(path: String, parameters: String, compressed: Bool) throws(SyscallError) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw SyscallError.last("open module", target: path) }
        defer { close(fd) }
        try SyscallError.check(core_finit_module(fd, parameters, compressed ? 4 : 0), "finit_module", target: path)
    }

    public func kernelRelease() -> String {
        var names = utsname()
        uname(&names)
        return withUnsafeBytes(of: names.release) { raw in
            String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
        }
    }

    public func sync() {
        Glibc.sync()
    }

    public func powerOff() -> SyscallError {
        let rc = core_reboot(Int32(bitPattern: 0x4321_FEDC))  // LINUX_REBOOT_CMD_POWER_OFF
        return SyscallError("reboot(RB_POWER_OFF)", target: "system", errno: -rc)
    }
}
