import Glibc
import LinuxKit

/// Where the device layer looks: sysfs and /dev. Tests point both at a temporary tree.
public struct DevicePaths: Sendable, Equatable {
    /// sysfs (/sys): DEVPATHs are relative to it.
    public var sysfs: String
    /// devtmpfs (/dev): where device nodes appear.
    public var dev: String

    public init(sysfs: String = "/sys", dev: String = "/dev") {
        self.sysfs = sysfs
        self.dev = dev
    }

    /// The node of a kernel DEVNAME ("vda", "vfio/3") below `dev`.
    public func node(_ devname: String) -> String { dev + "/" + devname }
}

/// Small sysfs reads and writes, through plain file calls on the (injectable) tree.
enum Sysfs {
    /// Entries of a directory (unsorted), or nil when it does not exist or cannot be read.
    static func list(_ path: String) -> [String]? {
        guard let dir = opendir(path) else { return nil }
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

    static func exists(_ path: String) -> Bool { access(path, F_OK) == 0 }

    /// Writes `text` to an existing attribute (no O_CREAT: a missing attribute is an error).
    static func write(_ text: String, to path: String) throws(SyscallError) {
        let fd = open(path, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { throw SyscallError("open for writing", target: path, errno: errno) }
        defer { close(fd) }
        let bytes = Array(text.utf8)
        let written = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        if written < 0 { throw SyscallError("write \"\(text)\" to", target: path, errno: errno) }
        if written != bytes.count {
            throw SyscallError("write \"\(text)\" to", target: path, errno: EIO, detail: "short write of \(written) bytes")
        }
    }

    /// The target of a symlink, or nil.
    static func readLink(_ path: String) -> String? {
        var buffer = [CChar](repeating: 0, count: 4096)
        let count = readlink(path, &buffer, buffer.count)
        guard count > 0, count < buffer.count else { return nil }
        return String(decoding: buffer[0..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
