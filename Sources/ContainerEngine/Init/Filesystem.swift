import Glibc
import LinuxKit

/// Small file helpers for init (no Foundation: init stays minimal and single-threaded).
enum Filesystem {
    static func mkdirAll(_ path: String, mode: mode_t = 0o755, step: String) throws {
        if let failed = Directories.create(path, mode: mode) {
            throw InitFailure(step, errno: failed.errno, "mkdir \(failed.path)")
        }
    }
}

/// stat-based checks.
enum FileStat {
    static func exists(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0
    }

    static func isDirectory(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }
}

/// Reads a whole (small) file, or nil.
func readText(_ path: String) -> String? {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var out: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = read(fd, &buffer, buffer.count)
        if n < 0 && errno == EINTR { continue }
        if n <= 0 { break }
        out += buffer[0..<n]
    }
    return String(decoding: out, as: UTF8.self)
}
