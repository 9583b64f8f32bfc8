import CLinuxShim
import Glibc
import LinuxKit

/// The system calls the storage drivers need beyond LinuxKit's `SystemCalls`: ownership, full
/// stat, statfs, byte-exact copies, swapon. A seam so the drivers' logic is unit-tested with
/// `InMemoryStorageSystemCalls`; `LinuxStorageSystemCalls` is the kernel.
public protocol StorageSystemCalls: Sendable {
    /// stat(2) (`followLinks`) or lstat(2); nil when the path does not exist.
    func status(_ path: String, followLinks: Bool) -> FileStatus?
    /// lchown(2); nil leaves that id unchanged.
    func changeOwner(_ path: String, uid: UInt32?, gid: UInt32?) throws(SyscallError)
    /// chmod(2) with any bits (setgid included).
    func changeMode(_ path: String, mode: mode_t) throws(SyscallError)
    /// statfs(2) of the filesystem holding `path`.
    func fileSystemStats(_ path: String) throws(SyscallError) -> FileSystemStats
    /// Up to `limit` bytes from the start of a file.
    func readBytes(_ path: String, limit: Int) throws(SyscallError) -> [UInt8]
    /// Creates or truncates `path` and writes `bytes` (mode applies when created).
    func writeBytes(_ path: String, _ bytes: [UInt8], mode: mode_t) throws(SyscallError)
    /// readlink(2).
    func readLink(_ path: String) throws(SyscallError) -> String
    /// rmdir(2) of an empty directory; a missing one is not an error.
    func removeDirectory(_ path: String) throws(SyscallError)
    /// rename(2).
    func rename(_ from: String, to: String) throws(SyscallError)
    /// swapon(2) with no flags.
    func swapOn(_ path: String) throws(SyscallError)
}

/// What stat(2) says about a path (the fields the storage area decides on).
public struct FileStatus: Sendable, Equatable {
    public enum Kind: Sendable, Equatable { case regular, directory, symlink, block, character, other }
    public var kind: Kind
    /// st_mode & 0o7777.
    public var permissions: mode_t
    public var uid: UInt32
    public var gid: UInt32
    public var size: Int64
    /// st_mtim in nanoseconds since the epoch (change detection of the watchable mirror).
    public var modifiedNanoseconds: Int64
    /// st_rdev of device nodes (major/minor), 0 otherwise.
    public var deviceNumber: UInt64

    public init(kind: Kind, permissions: mode_t, uid: UInt32 = 0, gid: UInt32 = 0, size: Int64 = 0,
                modifiedNanoseconds: Int64 = 0, deviceNumber: UInt64 = 0) {
        self.kind = kind
        self.permissions = permissions
        self.uid = uid
        self.gid = gid
        self.size = size
        self.modifiedNanoseconds = modifiedNanoseconds
        self.deviceNumber = deviceNumber
    }
}

/// statfs(2): block and inode counts of a filesystem.
public struct FileSystemStats: Sendable, Equatable {
    /// f_bsize.
    public var blockSize: UInt64
    public var blocks: UInt64
    public var blocksFree: UInt64
    /// Blocks available to unprivileged users (f_bavail).
    public var blocksAvailable: UInt64
    public var inodes: UInt64
    public var inodesFree: UInt64

    public init(blockSize: UInt64, blocks: UInt64, blocksFree: UInt64, blocksAvailable: UInt64, inodes: UInt64, inodesFree: UInt64) {
        self.blockSize = blockSize
        self.blocks = blocks
        self.blocksFree = blocksFree
        self.blocksAvailable = blocksAvailable
        self.inodes = inodes
        self.inodesFree = inodesFree
    }
}

/// The real kernel.
public struct LinuxStorageSystemCalls: StorageSystemCalls {
    public init() {}

    public func status(_ path: String, followLinks: Bool) -> FileStatus? {
        var info = stat()
        guard (followLinks ? stat(path, &info) : lstat(path, &info)) == 0 else { return nil }
        let kind: FileStatus.Kind
        switch info.st_mode & S_IFMT {
        case S_IFREG: kind = .regular
        case S_IFDIR: kind = .directory
        case S_IFLNK: kind = .symlink
        case S_IFBLK: kind = .block
        case S_IFCHR: kind = .character
        default: kind = .other
        }
        let seconds = Int64(info.st_mtim.tv_sec)
        let (scaled, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        return FileStatus(kind: kind, permissions: info.st_mode & 0o7777, uid: info.st_uid, gid: info.st_gid,
                          size: Int64(info.st_size),
                          modifiedNanoseconds: overflow ? Int64.max : scaled.addingReportingOverflow(Int64(info.st_mtim.tv_nsec)).partialValue,
                          deviceNumber: UInt64(info.st_rdev))
    }

    public func changeOwner(_ path: String, uid: UInt32?, gid: UInt32?) throws(SyscallError) {
        if lchown(path, uid ?? UInt32.max, gid ?? UInt32.max) != 0 {
            throw SyscallError("chown \(uid.map(String.init) ?? "-"):\(gid.map(String.init) ?? "-")", target: path, errno: errno)
        }
    }

    public func changeMode(_ path: String, mode: mode_t) throws(SyscallError) {
        if chmod(path, mode) != 0 { throw SyscallError("chmod \(String(mode, radix: 8))", target: path, errno: errno) }
    }

    public func fileSystemStats(_ path: String) throws(SyscallError) -> FileSystemStats {
        var info = storage_fs_stats()
        let rc = storage_statfs(path, &info)
        guard rc == 0 else { throw SyscallError("statfs", target: path, errno: -rc) }
        return FileSystemStats(blockSize: info.block_size, blocks: info.blocks, blocksFree: info.blocks_free,
                               blocksAvailable: info.blocks_available, inodes: info.inodes, inodesFree: info.inodes_free)
    }

    public func readBytes(_ path: String, limit: Int) throws(SyscallError) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw SyscallError("open for reading", target: path, errno: errno) }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while bytes.count < limit {
            let wanted = min(chunk.count, limit - bytes.count)
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, wanted) }
            if count < 0 {
                if errno == EINTR { continue }
                throw SyscallError("read", target: path, errno: errno)
            }
            if count == 0 { break }
            bytes += chunk[0..<count]
        }
        return bytes
    }

    public func writeBytes(_ path: String, _ bytes: [UInt8], mode: mode_t) throws(SyscallError) {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode)
        guard fd >= 0 else { throw SyscallError("open for writing", target: path, errno: errno) }
        defer { close(fd) }
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { raw in write(fd, raw.baseAddress.map { $0 + offset }, bytes.count - offset) }
            if written < 0 {
                if errno == EINTR { continue }
                throw SyscallError("write", target: path, errno: errno)
            }
            offset += written
        }
    }

    public func readLink(_ path: String) throws(SyscallError) -> String {
        var buffer = [UInt8](repeating: 0, count: Int(PATH_MAX) + 1)
        let count = buffer.withUnsafeMutableBytes { raw in
            guard let base = raw.baseAddress else { return -1 }
            return readlink(path, base.assumingMemoryBound(to: CChar.self), raw.count - 1)
        }
        guard count >= 0 else { throw SyscallError("readlink", target: path, errno: errno) }
        return String(decoding: buffer[0..<count], as: UTF8.self)
    }

    public func removeDirectory(_ path: String) throws(SyscallError) {
        if rmdir(path) != 0 && errno != ENOENT { throw SyscallError("rmdir", target: path, errno: errno) }
    }

    public func rename(_ from: String, to: String) throws(SyscallError) {
        if Glibc.rename(from, to) != 0 { throw SyscallError("rename \(from) to", target: to, errno: errno) }
    }

    public func swapOn(_ path: String) throws(SyscallError) {
        let rc = storage_swapon(path, 0)
        if rc != 0 { throw SyscallError("swapon", target: path, errno: -rc) }
    }
}
