import CLinuxShim
#if canImport(Glibc)
import Glibc
#endif

/// Loads a `DeviceFilterProgram` with bpf(2) and attaches it to a cgroup v2 directory,
/// replacing the programs attached there before (so updates never leave a gap).
public enum DeviceFilterLoader {
    static let progLoad: Int32 = 5, progAttach: Int32 = 8, progDetach: Int32 = 9
    static let progGetFDByID: Int32 = 13, progQuery: Int32 = 16
    static let progTypeCgroupDevice: UInt32 = 15
    static let attachTypeCgroupDevice: UInt32 = 6
    static let allowMulti: UInt32 = 2

    /// Attaches `program` to the cgroup at `directory` and detaches whatever was attached before.
    public static func attach(_ program: DeviceFilterProgram, to directory: String) throws {
        let cgroupFD = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard cgroupFD >= 0 else { throw CgroupError.io(operation: "open cgroup for BPF", path: directory, errno: errno) }
        defer { close(cgroupFD) }
        let previous = (try? attachedProgramIDs(cgroupFD: cgroupFD)) ?? []
        let programFD = try load(program, for: directory)
        defer { close(programFD) }
        var attr = BPFAttr()
        attr.put32(0, UInt32(cgroupFD))
        attr.put32(4, UInt32(programFD))
        attr.put32(8, attachTypeCgroupDevice)
        attr.put32(12, allowMulti)
        guard attr.call(progAttach) >= 0 else {
            throw CgroupError.io(operation: "BPF_PROG_ATTACH device filter", path: directory, errno: errno)
        }
        for id in previous {
            var getAttr = BPFAttr()
            getAttr.put32(0, id)
            let oldFD = Int32(truncatingIfNeeded: getAttr.call(progGetFDByID))
            guard oldFD >= 0 else { continue }
            defer { close(oldFD) }
            var detach = BPFAttr()
            detach.put32(0, UInt32(cgroupFD))
            detach.put32(4, UInt32(oldFD))
            detach.put32(8, attachTypeCgroupDevice)
            if detach.call(progDetach) < 0 && errno != ENOENT {
                throw CgroupError.io(operation: "BPF_PROG_DETACH old device filter \(id)", path: directory, errno: errno)
            }
        }
    }

    /// IDs of the device programs attached directly to the cgroup.
    public static func attachedProgramIDs(cgroupFD: Int32) throws -> [UInt32] {
        var ids = [UInt32](repeating: 0, count: 64)
        var attr = BPFAttr()
        let result: Int = ids.withUnsafeMutableBytes { buffer in
            attr.put32(0, UInt32(cgroupFD))
            attr.put32(4, attachTypeCgroupDevice)
            attr.put64(16, UInt64(UInt(bitPattern: buffer.baseAddress)))
            attr.put32(24, UInt32(64))
            return attr.call(progQuery)
        }
        guard result >= 0 else { throw CgroupError.io(operation: "BPF_PROG_QUERY", path: "fd \(cgroupFD)", errno: errno) }
        let count = Int(min(attr.get32(24), 64))
        return Array(ids.prefix(count))
    }

    /// BPF_PROG_LOAD; on a verifier rejection the verifier log is part of the error.
    static func load(_ program: DeviceFilterProgram, for directory: String) throws -> Int32 {
        let code = program.bytes
        let license = Array("Apache".utf8CString)
        var log = [CChar](repeating: 0, count: 65536)
        for logLevel: UInt32 in [0, 1] {
            var attr = BPFAttr()
            let fd: Int = code.withUnsafeBytes { insns in
                license.withUnsafeBufferPointer { licenseBuffer in
                    log.withUnsafeMutableBufferPointer { logBuffer in
                        attr.put32(0, progTypeCgroupDevice)
                        attr.put32(4, UInt32(program.instructions.count))
                        attr.put64(8, UInt64(UInt(bitPattern: insns.baseAddress)))
                        attr.put64(16, UInt64(UInt(bitPattern: licenseBuffer.baseAddress)))
                        if logLevel > 0 {
                            attr.put32(24, logLevel)
                            attr.put32(28, UInt32(logBuffer.count))
                            attr.put64(32, UInt64(UInt(bitPattern: logBuffer.baseAddress)))
                        }
                        return attr.call(progLoad)
                    }
                }
            }
            if fd >= 0 { return Int32(fd) }
            let savedErrno = errno
            if logLevel == 1 || savedErrno != EACCES && savedErrno != EINVAL {
                let verifier = String(decoding: log.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
                throw CgroupError.invalidResource(
                    "BPF_PROG_LOAD device filter for \(directory) failed: errno \(savedErrno)"
                        + (verifier.isEmpty ? "" : ", verifier: \(verifier.suffix(500))"))
            }
        }
        throw CgroupError.invalidResource("BPF_PROG_LOAD device filter for \(directory) failed")
    }
}

/// A zeroed union bpf_attr; fields are stored at their byte offsets.
struct BPFAttr {
    var bytes = [UInt8](repeating: 0, count: 128)

    mutating func put32(_ offset: Int, _ value: UInt32) {
        for i in 0..<4 { bytes[offset + i] = UInt8(truncatingIfNeeded: value >> (8 * i)) }
    }

    mutating func put64(_ offset: Int, _ value: UInt64) {
        for i in 0..<8 { bytes[offset + i] = UInt8(truncatingIfNeeded: value >> (8 * i)) }
    }

    func get32(_ offset: Int) -> UInt32 {
        (0..<4).reduce(UInt32(0)) { $0 | UInt32(bytes[offset + $1]) << (8 * $1) }
    }

    mutating func call(_ command: Int32) -> Int {
        let size = UInt32(bytes.count)
        return bytes.withUnsafeMutableBytes { Int(security_bpf(command, $0.baseAddress, size)) }
    }
}
