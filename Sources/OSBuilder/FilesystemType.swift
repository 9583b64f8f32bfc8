import Foundation

/// The root filesystem of an image (FS_TYPE upstream).
public enum FilesystemType: String, Sendable, CaseIterable {
    case ext4, xfs, erofs

    /// The writer that builds this type into a partition file.
    func formatter(_ context: FilesystemContext) -> FilesystemFormatter {
        switch self {
        case .ext4: return Ext4Formatter(context: context)
        case .xfs: return XFSFormatter(context: context)
        case .erofs: return EROFSFormatter(context: context)
        }
    }

    /// Tools needed to build and verify this type, checked before any work starts.
    var tools: [Tool] {
        switch self {
        case .ext4: return [.mkfsExt4, .debugfs, .e2fsck]
        case .xfs: return [.mkfsXFS, .xfsDB, .xfsRepair]
        case .erofs: return [.mkfsEROFS, .fsckEROFS]
        }
    }

    /// Kernel `rootflags=... ro rootfstype=...` for a read-only root (upstream's for ext4;
    /// xfs and erofs take no ext4 options).
    public func rootParameters(dax: Bool) -> String {
        switch self {
        case .ext4: return "rootflags=\(dax ? "dax," : "")data=ordered,errors=remount-ro ro rootfstype=ext4"
        case .xfs: return "\(dax ? "rootflags=dax " : "")ro rootfstype=xfs"
        case .erofs: return "\(dax ? "rootflags=dax " : "")ro rootfstype=erofs"
        }
    }

    /// Recognises a filesystem from the first 4 KiB of a partition by its superblock magic.
    public static func detect(_ head: [UInt8]) -> FilesystemType? {
        if head.count >= 4, Array(head[0..<4]) == Array("XFSB".utf8) { return .xfs }
        if head.count >= 1028, get32(head, 1024) == 0xE0F5_E1E2 { return .erofs }
        if head.count >= 1082, head[1080] == 0x53, head[1081] == 0xEF { return .ext4 }
        return nil
    }
}

/// What every formatter gets: the tree, the identifiers derived from it, and the options.
struct FilesystemContext {
    var tree: FileTree
    var options: ImageOptions
    var uuid: String
    var hashSeed: String
    var progress: BuildProgress
}

/// One filesystem type's way of turning a tree into a standalone partition file, rootless.
protocol FilesystemFormatter {
    /// Bytes the partition needs for the tree, or nil when the tool sizes the result itself.
    func estimateBytes() -> UInt64?
    /// Writes the filesystem into the new regular file `file`, `bytes` long for sized types;
    /// returns the bytes the filesystem occupies. Throws `FilesystemFull` when `bytes` is short.
    func make(_ file: String, bytes: UInt64?) throws -> UInt64
    /// Checks the finished filesystem with the type's own checker (read-only).
    func verify(_ file: String) throws
}

/// The tree did not fit in the size given to `make`: the builder grows it and retries.
struct FilesystemFull: Error {
    var detail: String
}

/// Writes a short-lived file in the temporary directory and removes it when `body` returns.
func withTemporaryFile<T>(_ name: String, contents: String, _ body: (String) throws -> T) throws -> T {
    let path = NSTemporaryDirectory() + "/osbuilder-\(getpid())-\(name)"
    try write(contents, to: path)
    defer { unlink(path) }
    return try body(path)
}
