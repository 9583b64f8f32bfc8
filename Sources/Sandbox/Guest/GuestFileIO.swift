#if canImport(Glibc)
import Glibc
#endif
import LinuxKit

/// Small whole-file reads and writes for sysfs/procfs attributes, with errno in every error.
enum GuestFileIO {
    /// Reads a file as text, at most `limit` bytes (procfs files report size 0, so read until EOF).
    static func read(_ path: String, operation: String, limit: Int = 4 << 20) throws(GuestOperationError) -> String {
        do {
            return try WholeFile.text(path, limit: limit)
        } catch {
            throw .posix(operation, path: path, error.errno)
        }
    }

    /// Writes `data` to an existing file in one `write` (sysfs attributes take one write per value;
    /// O_TRUNC is ignored by sysfs and devices and makes plain files in tests hold just the value).
    static func write(_ path: String, _ data: [UInt8], operation: String) throws(GuestOperationError) {
        let fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC)
        guard fd >= 0 else { throw .posix(operation, path: path) }
        defer { close(fd) }
        var offset = 0
        while offset < data.count {
            let count = data.withUnsafeBytes { buffer in
                Glibc.write(fd, buffer.baseAddress.map { $0 + offset }, buffer.count - offset)
            }
            if count < 0 {
                if errno == EINTR { continue }
                throw .posix(operation, path: path)
            }
            offset += count
        }
    }

    static func write(_ path: String, _ text: String, operation: String) throws(GuestOperationError) {
        try write(path, Array(text.utf8), operation: operation)
    }

    /// Whether a path exists (lstat); other errors than ENOENT are reported.
    static func exists(_ path: String, operation: String) throws(GuestOperationError) -> Bool {
        var info = stat()
        if lstat(path, &info) == 0 { return true }
        if errno == ENOENT { return false }
        throw .posix(operation, path: path)
    }

    /// Directory entry names, sorted so the order is stable.
    static func list(_ path: String, operation: String) throws(GuestOperationError) -> [String] {
        guard let dir = opendir(path) else { throw .posix(operation, path: path) }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }
}
