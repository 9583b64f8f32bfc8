import Foundation

/// xfs populated from a directory without mounting: `mkfs.xfs -p PROTOFILE` (which carries
/// modes, owners, symlinks and device nodes), then an `xfs_db -x` pass for what a protofile
/// cannot say (timestamps, the sticky bit); checked with `xfs_repair -n`.
///
/// mkfs.xfs 6.1 stamps every inode with the current time and has no SOURCE_DATE_EPOCH; the
/// xfs_db pass rewrites atime, mtime, ctime and crtime (bigtime encoding) so the output is
/// byte-identical. It also refuses filesystems under 300 MiB (since xfsprogs 5.19), so that
/// is the smallest xfs partition.
struct XFSFormatter: FilesystemFormatter {
    static let blockSize: UInt64 = 4096
    static let inodeSize: UInt64 = 512
    /// mkfs.xfs: "Filesystem must be larger than 300MB."
    static let minimumBytes: UInt64 = 300 * ImageBuilder.mib
    var context: FilesystemContext

    var tree: FileTree { context.tree }

    func estimateBytes() -> UInt64? {
        var blocks: UInt64 = 0
        for entry in tree.entries {
            switch entry.kind {
            case .regular: blocks += (entry.size + Self.blockSize - 1) / Self.blockSize
            case .directory: blocks += 1
            default: break
            }
        }
        // Content, inode chunks (64 inodes each), a 64 MiB log and per-AG metadata, plus 10%.
        let inodeBytes = (UInt64(tree.entries.count) / 64 + 1) * 64 * Self.inodeSize
        let bytes = (blocks * Self.blockSize + inodeBytes) * 11 / 10 + 80 * ImageBuilder.mib
        // Two allocation groups, each able to hold the largest file next to the log (see make).
        let largest = tree.entries.filter { $0.kind == .regular }.map(\.size).max() ?? 0
        return max(bytes, Self.minimumBytes, Self.allocationGroups * (largest + largest / 4 + 80 * ImageBuilder.mib))
    }

    /// mkfs.xfs 6.1 writes a protofile file larger than an allocation group over the next
    /// group's headers (xfs_repair then finds a corrupt AGF and inode chunk; seen with a 90 MB
    /// file in the default four 75 MB groups of a 300 MB filesystem). Two groups, each sized
    /// for the largest file, avoid it; one group is refused by mkfs.xfs. Two groups of at most
    /// 1 TiB also cover everything an MBR can describe.
    static let allocationGroups: UInt64 = 2

    /// The protofile's 6-character mode: type, setuid, setgid, three octal digits.
    static func protoMode(_ entry: TreeEntry) throws -> String {
        let type: String
        switch entry.kind {
        case .regular: type = "-"
        case .directory: type = "d"
        case .symlink: type = "l"
        case .fifo: type = "p"
        case .device(.character): type = "c"
        case .device(.block): type = "b"
        case .socket: throw OSBuilderError("build xfs image", entry.absolutePath, "sockets cannot be written by mkfs.xfs -p")
        }
        let setuid = entry.permissions & 0o4000 != 0 ? "u" : "-"
        let setgid = entry.permissions & 0o2000 != 0 ? "g" : "-"
        let digits = String(entry.permissions & 0o777, radix: 8)
        return type + setuid + setgid + String(repeating: "0", count: 3 - digits.count) + digits
    }

    /// The protofile words are whitespace-separated: names, link targets and source paths
    /// with whitespace cannot be expressed.
    static func word(_ text: String, _ entry: TreeEntry) throws -> String {
        guard !text.isEmpty, !text.contains(where: { $0.isWhitespace }) else {
            throw OSBuilderError("build xfs image", entry.absolutePath, "names, link targets and paths with whitespace cannot be written by mkfs.xfs -p")
        }
        return text
    }

    /// The protofile for the tree (xfsprogs' proto.c grammar): nested directories each closed by `$`.
    func protofile() throws -> String {
        var children: [String: [TreeEntry]] = [:]
        var root: TreeEntry?
        for entry in tree.entries {
            if entry.path.isEmpty { root = entry; continue }
            let parent = entry.path.split(separator: "/").dropLast().joined(separator: "/")
            children[parent, default: []].append(entry)
        }
        guard let root else { throw OSBuilderError("build xfs image", tree.root, "empty tree") }
        var lines = ["/osbuilder-no-boot-image", "0 0", "\(try Self.protoMode(root)) \(root.owner.uid) \(root.owner.gid)"]
        func emit(_ directory: String, depth: Int) throws {
            for entry in children[directory] ?? [] {
                let name = try Self.word(String(entry.path.split(separator: "/").last ?? ""), entry)
                var line = "\(String(repeating: " ", count: depth))\(name) \(try Self.protoMode(entry)) \(entry.owner.uid) \(entry.owner.gid)"
                switch entry.kind {
                case .regular:
                    guard let source = entry.sourcePath else { throw OSBuilderError("build xfs image", entry.absolutePath, "no source file") }
                    line += " " + (try Self.word(source, entry))
                case .symlink:
                    line += " " + (try Self.word(entry.linkTarget, entry))
                case .device:
                    line += " \(entry.rdevMajor) \(entry.rdevMinor)"
                default:
                    break
                }
                lines.append(line)
                if entry.kind == .directory {
                    try emit(entry.path, depth: depth + 1)
                    lines.append("\(String(repeating: " ", count: depth))$")
                }
            }
        }
        try emit("", depth: 1)
        lines.append("$")
        return lines.joined(separator: "\n") + "\n"
    }

    func make(_ file: String, bytes: UInt64?) throws -> UInt64 {
        guard let bytes else { throw OSBuilderError("mkfs.xfs", file, "no size given") }
        let proto = try protofile()
        context.progress.step("mkfs.xfs -p (\(tree.entries.count) entries, \(bytes / ImageBuilder.mib) MiB)")
        do {
            _ = try withTemporaryFile("xfs.proto", contents: proto) { protoPath in
                // Every feature spelled out, so a newer default or a host config cannot change
                // the bytes; reflink=0 as upstream (DAX and reflink exclude each other).
                try Tool.mkfsXFS.run([
                    "-q", "-f", "-K", "-b", "size=4096", "-s", "size=512",
                    "-m", "crc=1,finobt=1,rmapbt=0,reflink=0,inobtcount=1,bigtime=1,uuid=\(context.uuid)",
                    "-i", "size=512,sparse=1", "-n", "size=4096,ftype=1", "-d", "size=\(bytes),agcount=\(Self.allocationGroups)",
                    "-p", protoPath, file,
                ], operation: "mkfs.xfs")
            }
        } catch let error as OSBuilderError where error.reason.contains("No space") || error.reason.contains("ENOSPC") {
            throw FilesystemFull(detail: error.reason)
        }
        try fixUp(file)
        return bytes
    }

    /// xfs bigtime timestamps count nanoseconds from 1901-12-13 (the signed 32-bit epoch start);
    /// xfs_db's `write` of `.sec` stores this raw 64-bit value.
    static func bigtime(_ seconds: Int64) -> String {
        String((seconds + (1 << 31)) * 1_000_000_000)
    }

    static let timeFields = ["core.atime.sec", "core.mtime.sec", "core.ctime.sec", "v3.crtime.sec"]

    /// The realtime bitmap and summary inodes: outside the tree, stamped by mkfs all the same.
    func metadataInodes(_ file: String) throws -> [String] {
        let output = try Tool.xfsDB.run(["-r", "-c", "sb 0", "-c", "print rbmino rsumino", file], operation: "xfs_db")
        return String(decoding: output.stdout, as: UTF8.self).split(separator: "\n").compactMap { line in
            let parts = line.split(separator: "=").map { $0.trimmingCharacters(in: .whitespaces) }
            return parts.count == 2 && UInt64(parts[1]) != nil ? parts[1] : nil
        }
    }

    func fixUp(_ file: String) throws {
        var script = ""
        if let epoch = context.options.sourceDateEpoch {
            for inode in try metadataInodes(file) {
                script += "inode \(inode)\n"
                for field in Self.timeFields { script += "write \(field) \(Self.bigtime(epoch))\n" }
            }
        }
        for entry in tree.entries {
            script += "path \(entry.absolutePath)\n"
            let stamp = Self.bigtime(entry.mtime)
            for field in Self.timeFields {
                script += "write \(field) \(stamp)\n"
            }
            if entry.permissions & 0o1000 != 0 {
                // The protofile has no sticky bit.
                script += "write core.mode 0\(String(entry.mode, radix: 8))\n"
            }
        }
        context.progress.step("xfs_db: timestamps for \(tree.entries.count) inodes")
        let output = try withTemporaryFile("xfs_db.cmds", contents: script) { scriptPath in
            try Tool.xfsDB.run(["-x", file], stdinFile: scriptPath, operation: "xfs_db")
        }
        if let first = output.stderr.split(separator: "\n").first {
            throw OSBuilderError("xfs_db", file, String(first))
        }
    }

    func verify(_ file: String) throws {
        context.progress.step("xfs_repair -n")
        let output = try Tool.xfsRepair.run(["-n", "-f", file], check: false)
        guard output.status == 0 else {
            let line = output.stderr.split(separator: "\n").last.map(String.init) ?? "exit \(output.status)"
            throw OSBuilderError("xfs_repair -n", file, line)
        }
    }
}
