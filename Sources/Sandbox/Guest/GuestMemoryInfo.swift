#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Memory hot-plug facts the runtime asks for in GetGuestDetails.
public struct GuestMemoryInfo: Sendable, Equatable {
    /// Bytes per memory block (0 when the kernel has no memory-block sysfs or it was not asked for).
    public var blockSizeBytes: UInt64
    /// Whether the kernel offers the `probe` interface for hot-adding memory.
    public var supportsProbe: Bool

    public init(blockSizeBytes: UInt64, supportsProbe: Bool) {
        self.blockSizeBytes = blockSizeBytes
        self.supportsProbe = supportsProbe
    }

    /// Reads what was asked for. As upstream: a missing block_size_bytes means 0, not an error;
    /// an empty or non-hex one is an error.
    public static func read(
        roots: GuestRoots, blockSize: Bool, probe: Bool
    ) throws(GuestOperationError) -> GuestMemoryInfo {
        var info = GuestMemoryInfo(blockSizeBytes: 0, supportsProbe: false)
        if blockSize {
            let path = roots.memoryBlockSizeFile
            if try GuestFileIO.exists(path, operation: "read memory block size") {
                let text = try GuestFileIO.read(path, operation: "read memory block size")
                    .trimmingWhitespace()
                guard let value = parseHex(text) else {
                    throw GuestOperationError(
                        .system, operation: "read memory block size", path: path,
                        reason: "'\(text.prefix(40))' is not a hexadecimal size")
                }
                info.blockSizeBytes = value
            }
        }
        if probe {
            info.supportsProbe = try GuestFileIO.exists(roots.memoryProbeFile, operation: "check memory probe")
        }
        return info
    }

    /// sysfs prints block_size_bytes in hex without a prefix ("8000000"); tolerate "0x".
    static func parseHex(_ text: String) -> UInt64? {
        var digits = Substring(text)
        if digits.hasPrefix("0x") || digits.hasPrefix("0X") { digits = digits.dropFirst(2) }
        guard !digits.isEmpty else { return nil }
        return UInt64(digits, radix: 16)
    }
}

/// Whether the running kernel offers seccomp filtering to processes (the `Seccomp:` line of
/// /proc/self/status exists only on kernels built with CONFIG_SECCOMP).
public enum GuestSeccompSupport {
    public static func kernelSupportsSeccomp(roots: GuestRoots) -> Bool {
        guard let status = try? GuestFileIO.read(roots.procfs + "/self/status", operation: "read process status") else {
            return false
        }
        return status.split(separator: "\n").contains { $0.hasPrefix("Seccomp:") }
    }
}
