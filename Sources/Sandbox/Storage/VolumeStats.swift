import Glibc
import LinuxKit

/// GetVolumeStats: statfs of a mounted volume as CSI's VolumeUsage pairs, as upstream
/// (available = free blocks, used = total - free; inodes alike).
public struct VolumeStats: Sendable, Equatable {
    /// One CSI VolumeUsage.
    public struct Usage: Sendable, Equatable {
        public var total: UInt64
        public var available: UInt64
        public var used: UInt64
    }

    public var bytes: Usage
    public var inodes: Usage

    public static func read(_ path: String, files: any StorageSystemCalls) throws(SandboxError) -> VolumeStats {
        guard files.status(path, followLinks: true) != nil else {
            throw SandboxError(.invalidArgument, "volume_guest_path \(path) does not exist", errno: ENOENT)
        }
        let stats: FileSystemStats
        do {
            stats = try files.fileSystemStats(path)
        } catch {
            throw SandboxError.system("volume stats of \(path)", error)
        }
        let (total, totalOverflow) = stats.blocks.multipliedReportingOverflow(by: stats.blockSize)
        let (free, freeOverflow) = min(stats.blocksFree, stats.blocks).multipliedReportingOverflow(by: stats.blockSize)
        guard !totalOverflow, !freeOverflow else {
            throw SandboxError(.system, "volume stats of \(path): \(stats.blocks) blocks of \(stats.blockSize) bytes overflow 64 bits")
        }
        let inodesFree = min(stats.inodesFree, stats.inodes)
        return VolumeStats(bytes: Usage(total: total, available: free, used: total - free),
                           inodes: Usage(total: stats.inodes, available: inodesFree, used: stats.inodes - inodesFree))
    }
}
