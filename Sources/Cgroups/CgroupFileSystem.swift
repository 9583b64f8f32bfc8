#if canImport(Glibc)
import Glibc
#endif
import LinuxKit

/// File operations the managers need; a protocol so the resource -> file mapping runs on a temp dir.
public protocol CgroupFileSystem: Sendable {
    /// The whole content of a control file.
    func read(_ path: String) throws -> String
    /// One write(2) of `value` to an existing control file (cgroupfs parses each write).
    func write(_ path: String, _ value: String) throws
    /// Creates the directory and any missing parents.
    func createDirectory(_ path: String) throws
    /// Removes one empty directory (rmdir(2)).
    func removeDirectory(_ path: String) throws
    /// Whether a file or directory exists.
    func exists(_ path: String) -> Bool
    /// Names of the subdirectories of `path` (not recursive).
    func subdirectories(_ path: String) throws -> [String]
}

/// The real file system. `createMissingFiles` lets tests use a plain directory as a cgroup.
public struct LocalCgroupFileSystem: CgroupFileSystem {
    public let createMissingFiles: Bool

    public init(createMissingFiles: Bool = false) {
        self.createMissingFiles = createMissingFiles
    }

    public func read(_ path: String) throws -> String {
        do {
            return try WholeFile.text(path)
        } catch {
            throw CgroupError.io(operation: error.operation, path: path, errno: error.errno)
        }
    }

    public func write(_ path: String, _ value: String) throws {
        let flags = O_WRONLY | O_CLOEXEC | (createMissingFiles ? (O_CREAT | O_TRUNC) : 0)
        let fd = open(path, flags, 0o644)
        guard fd >= 0 else { throw CgroupError.io(operation: "open for write", path: path, errno: errno) }
        defer { close(fd) }
        let bytes = Array(value.utf8)
        while true {
            let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n < 0 { throw CgroupError.io(operation: "write '\(value)' to", path: path, errno: errno) }
            if n != bytes.count {
                throw CgroupError.io(operation: "short write '\(value)' to", path: path, errno: EIO)
            }
            return
        }
    }

    public func createDirectory(_ path: String) throws {
        if let failed = Directories.create(path) {
            throw CgroupError.io(operation: "mkdir", path: failed.path, errno: failed.errno)
        }
    }

    public func removeDirectory(_ path: String) throws {
        if rmdir(path) != 0 {
            throw CgroupError.io(operation: "rmdir", path: path, errno: errno)
        }
    }

    public func exists(_ path: String) -> Bool {
        access(path, F_OK) == 0
    }

    public func subdirectories(_ path: String) throws -> [String] {
        guard let dir = opendir(path) else {
            throw CgroupError.io(operation: "opendir", path: path, errno: errno)
        }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            guard name != ".", name != ".." else { continue }
            if Int32(entry.pointee.d_type) == Int32(DT_DIR) { names.append(name) }
        }
        return names.sorted()
    }
}
