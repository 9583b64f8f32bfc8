import Glibc

/// Whole-file reads with open(2)/read(2) until EOF (procfs and sysfs files report size 0).
///
/// The agent reads its configuration, /proc and /sys files at every start; FoundationEssentials'
/// readers (`FileManager.contents(atPath:)`, `String(contentsOfFile:)`) would page in their own
/// file-system, URL and string-decoding code for it.
public enum WholeFile {
    /// The file's bytes, at most `limit` of them. The default, 64 MiB, is enough for any file
    /// the agent reads whole (a Debian kernel's modules.alias is 1.4 MB); callers reading what a
    /// container controls pass their own, smaller limit.
    public static func bytes(_ path: String, limit: Int = 64 << 20) throws(SyscallError) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw SyscallError.last("open", target: path) }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16384)
        while bytes.count < limit {
            let wanted = min(chunk.count, limit - bytes.count)
            let count = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, wanted) }
            if count < 0 {
                if errno == EINTR { continue }
                throw SyscallError.last("read", target: path)
            }
            if count == 0 { break }
            bytes.append(contentsOf: chunk[0..<count])
        }
        return bytes
    }

    /// The file as text; invalid UTF-8 is repaired, as `String(decoding:as:)` does.
    public static func text(_ path: String, limit: Int = 64 << 20) throws(SyscallError) -> String {
        String(decoding: try bytes(path, limit: limit), as: UTF8.self)
    }
}
