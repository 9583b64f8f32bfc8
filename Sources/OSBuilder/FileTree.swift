import Foundation

/// One entry of a tree to pack, with the owner and mtime the outputs must carry.
public struct TreeEntry: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        case directory, regular, symlink, fifo, socket
        case device(Template.DeviceKind)
    }

    /// Path relative to the root without a leading "/" ("" is the root itself).
    public var path: String
    public var kind: Kind
    /// Permission bits including setuid/setgid/sticky.
    public var permissions: UInt32
    public var owner: Template.Owner
    public var size: UInt64
    public var mtime: Int64
    public var linkTarget: String = ""
    public var rdevMajor: UInt32 = 0
    public var rdevMinor: UInt32 = 0
    /// Where the bytes live on disk (nil for virtual device nodes).
    public var sourcePath: String?

    /// st_mode-style file type bits plus permissions.
    public var mode: UInt32 {
        let type: UInt32
        switch kind {
        case .directory: type = 0o040000
        case .regular: type = 0o100000
        case .symlink: type = 0o120000
        case .fifo: type = 0o010000
        case .socket: type = 0o140000
        case .device(.character): type = 0o020000
        case .device(.block): type = 0o060000
        }
        return type | permissions
    }

    /// "/" + path.
    public var absolutePath: String { "/" + path }
}

/// A rootfs directory scanned into sorted entries, with owners and clamped mtimes applied.
public struct FileTree: Sendable {
    public var root: String
    /// Sorted by path bytes, so parents precede their children.
    public var entries: [TreeEntry]

    /// The most content a tree may hold (1 TiB): far past any guest rootfs, and small enough that
    /// no size estimate, layout or offset derived from it can overflow 64 bits.
    public static let maximumContentBytes: UInt64 = 1 << 40

    /// Bytes of its regular files; throws past `maximumContentBytes` (sparse files can claim
    /// up to 2^63 bytes each, and two of them overflow a plain sum).
    public func contentBytes() throws -> UInt64 {
        var total: UInt64 = 0
        for entry in entries where entry.kind == .regular {
            let (sum, overflow) = total.addingReportingOverflow(entry.size)
            guard !overflow, sum <= Self.maximumContentBytes else {
                throw OSBuilderError("scan rootfs", root, "its files hold more than \(Self.maximumContentBytes >> 30) GiB "
                                     + "(\(entry.absolutePath) claims \(entry.size) bytes; a sparse file?)")
            }
            total = sum
        }
        return total
    }

    /// Scans `root`. `epoch` clamps mtimes (SOURCE_DATE_EPOCH); `attributes` supplies owners
    /// and device nodes a rootless build could not create on disk.
    public static func scan(root: String, attributes: TreeAttributes, epoch: Int64?) throws -> FileTree {
        var entries: [TreeEntry] = []
        try walk(root: root, relative: "", into: &entries, attributes: attributes, epoch: epoch)
        for (path, device) in attributes.devices {
            let relative = String(path.drop(while: { $0 == "/" }))
            entries.removeAll { $0.path == relative }
            entries.append(TreeEntry(
                path: relative, kind: .device(device.kind), permissions: device.mode & 0o7777,
                owner: attributes.ownerOverrides[path] ?? .root, size: 0, mtime: epoch ?? 0,
                rdevMajor: device.major, rdevMinor: device.minor, sourcePath: nil))
        }
        entries.sort { $0.path.utf8.lexicographicallyPrecedes($1.path.utf8) }
        return FileTree(root: root, entries: entries)
    }

    private static func walk(root: String, relative: String, into entries: inout [TreeEntry], attributes: TreeAttributes, epoch: Int64?) throws {
        let full = relative.isEmpty ? root : "\(root)/\(relative)"
        var st = stat()
        guard lstat(full, &st) == 0 else { throw OSBuilderError.errno("stat", full) }
        let absolute = "/" + relative
        let owner: Template.Owner
        if let explicit = attributes.ownerOverrides[absolute] {
            owner = explicit
        } else if attributes.owners == .preserve {
            owner = Template.Owner(uid: st.st_uid, gid: st.st_gid)
        } else {
            owner = .root
        }
        var mtime = Int64(st.st_mtim.tv_sec)
        if let epoch, mtime > epoch { mtime = epoch }
        var entry = TreeEntry(
            path: relative, kind: .regular, permissions: UInt32(st.st_mode) & 0o7777, owner: owner,
            size: 0, mtime: mtime, sourcePath: full)
        switch UInt32(st.st_mode) & UInt32(S_IFMT) {
        case UInt32(S_IFDIR):
            entry.kind = .directory
            entries.append(entry)
            let names: [String]
            do {
                names = try FileManager.default.contentsOfDirectory(atPath: full)
            } catch {
                throw OSBuilderError("read directory", full, "\(error.localizedDescription)")
            }
            for name in names.sorted() {
                try walk(root: root, relative: relative.isEmpty ? name : "\(relative)/\(name)", into: &entries, attributes: attributes, epoch: epoch)
            }
            return
        case UInt32(S_IFREG):
            entry.size = UInt64(st.st_size)
        case UInt32(S_IFLNK):
            entry.kind = .symlink
            var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
            let count = readlink(full, &buffer, buffer.count - 1)
            guard count >= 0 else { throw OSBuilderError.errno("readlink", full) }
            entry.linkTarget = String(decoding: buffer[0..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
            entry.size = UInt64(count)
        case UInt32(S_IFIFO):
            entry.kind = .fifo
        case UInt32(S_IFSOCK):
            entry.kind = .socket
        case UInt32(S_IFCHR), UInt32(S_IFBLK):
            entry.kind = .device((UInt32(st.st_mode) & UInt32(S_IFMT)) == UInt32(S_IFCHR) ? .character : .block)
            let rdev = UInt64(st.st_rdev)
            let majorHigh = (rdev >> 32) & 0xffff_f000
            let minorHigh = (rdev >> 12) & 0xffff_ff00
            entry.rdevMajor = UInt32(truncatingIfNeeded: ((rdev >> 8) & 0xfff) | majorHigh)
            entry.rdevMinor = UInt32(truncatingIfNeeded: (rdev & 0xff) | minorHigh)
        default:
            throw OSBuilderError("scan", full, "unsupported file type")
        }
        entries.append(entry)
    }
}
