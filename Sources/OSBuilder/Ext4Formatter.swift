import Foundation

/// ext4 with `mkfs.ext4 -d` on a regular file (no root, no loop device, no mount), then a
/// `debugfs -w` pass for owners, times and device nodes; checked with `e2fsck -fn`.
struct Ext4Formatter: FilesystemFormatter {
    static let blockSize: UInt64 = 4096
    var context: FilesystemContext

    var tree: FileTree { context.tree }
    var options: ImageOptions { context.options }

    /// Content blocks plus inode tables, directories, journal and reserved blocks.
    func estimateBytes() -> UInt64? {
        var blocks: UInt64 = 0
        for entry in tree.entries {
            switch entry.kind {
            case .regular: blocks += (entry.size + Self.blockSize - 1) / Self.blockSize
            case .directory: blocks += 1
            case .symlink where entry.linkTarget.utf8.count >= 60: blocks += 1
            default: break
            }
        }
        let inodes = inodeCount(filesystemBytes: 0)
        var bytes = blocks * Self.blockSize + blocks * Self.blockSize / 20 + inodes * 256 + 2 * ImageBuilder.mib
        bytes += Self.journalBytes(filesystemBytes: bytes)
        bytes = bytes * 100 / UInt64(100 - options.reservedPercent)
        return bytes
    }

    /// mke2fs's default journal size for a filesystem of this size (ext2fs_default_journal_size).
    static func journalBytes(filesystemBytes: UInt64) -> UInt64 {
        let blocks = filesystemBytes / blockSize
        let journalBlocks: UInt64
        switch blocks {
        case ..<2048: journalBlocks = 0
        case ..<32768: journalBlocks = 1024
        case ..<(256 * 1024): journalBlocks = 4096
        case ..<(512 * 1024): journalBlocks = 8192
        case ..<(4096 * 1024): journalBlocks = 16384
        default: journalBlocks = 32768
        }
        return journalBlocks * blockSize
    }

    func inodeCount(filesystemBytes: UInt64) -> UInt64 {
        max(UInt64(tree.entries.count) * 5 / 4 + 64, filesystemBytes / 16384)
    }

    /// A fixed mke2fs.conf, so the host's configuration cannot change the features.
    static let mke2fsConfig = """
        [defaults]
        \tbase_features = sparse_super,large_file,filetype,resize_inode,dir_index,ext_attr
        \tdefault_mntopts = acl,user_xattr
        \tenable_periodic_fsck = 0
        \tblocksize = 4096
        \tinode_size = 256
        \tinode_ratio = 16384

        [fs_types]
        \text4 = {
        \t\tfeatures = has_journal,extent,huge_file,flex_bg,metadata_csum,64bit,dir_nlink,extra_isize
        \t}

        """

    func withToolEnvironment<T>(_ body: ([String: String]) throws -> T) throws -> T {
        try withTemporaryFile("mke2fs.conf", contents: Self.mke2fsConfig) { config in
            var env = ["MKE2FS_CONFIG": config]
            if let epoch = options.sourceDateEpoch { env["E2FSPROGS_FAKE_TIME"] = String(epoch) }
            return try body(env)
        }
    }

    func make(_ file: String, bytes: UInt64?) throws -> UInt64 {
        guard let bytes else { throw OSBuilderError("mkfs.ext4", file, "no size given") }
        let blocks = bytes / Self.blockSize
        context.progress.step("mkfs.ext4 -d \(options.rootfs) (\(bytes / ImageBuilder.mib) MiB)")
        do {
            _ = try withToolEnvironment { env in
                try Tool.mkfsExt4.run([
                    "-q", "-F", "-t", "ext4", "-b", "4096", "-I", "256", "-m", String(options.reservedPercent),
                    "-N", String(inodeCount(filesystemBytes: bytes)), "-U", context.uuid,
                    "-E", "hash_seed=\(context.hashSeed),root_owner=0:0,nodiscard",
                    "-d", options.rootfs, file, String(blocks),
                ], environment: env, operation: "mkfs.ext4")
            }
        } catch let error as OSBuilderError where error.reason.contains("Could not allocate") || error.reason.contains("No space") {
            throw FilesystemFull(detail: error.reason)
        }
        try fixUp(file)
        return blocks * Self.blockSize
    }

    /// mkfs -d copies on-disk owners and times; set what the outputs must carry instead
    /// (template owners, clamped mtimes, atime = ctime = mtime) and add device nodes.
    func fixUp(_ file: String) throws {
        var script = ""
        for entry in tree.entries {
            let path = try Self.debugfsPath(entry.absolutePath)
            if case .device(let kind) = entry.kind, entry.sourcePath == nil {
                // debugfs's mknod creates its argument as a name in the current directory.
                let parent = try Self.debugfsPath("/" + entry.path.split(separator: "/").dropLast().joined(separator: "/"))
                let name = try Self.debugfsPath(String(entry.path.split(separator: "/").last ?? ""))
                script += "cd \(parent)\nmknod \(name) \(kind.rawValue) \(entry.rdevMajor) \(entry.rdevMinor)\ncd \"/\"\n"
                script += "sif \(path) mode 0\(String(entry.mode, radix: 8))\n"
            }
        }
        for entry in tree.entries {
            let path = try Self.debugfsPath(entry.absolutePath)
            script += "sif \(path) uid \(entry.owner.uid)\nsif \(path) gid \(entry.owner.gid)\n"
            for field in ["mtime", "atime", "ctime"] { script += "sif \(path) \(field) @\(entry.mtime)\n" }
            if options.sourceDateEpoch != nil { script += "sif \(path) crtime @\(entry.mtime)\n" }
        }
        context.progress.step("debugfs: owners, times and device nodes for \(tree.entries.count) entries")
        let output = try withTemporaryFile("debugfs.cmds", contents: script) { scriptPath in
            try withToolEnvironment { env in
                try Tool.debugfs.run(["-w", "-f", scriptPath, file], environment: env, operation: "debugfs")
            }
        }
        // debugfs exits 0 even when a command fails; its complaints go to stderr.
        let complaints = output.stderr.split(separator: "\n").filter { !$0.hasPrefix("debugfs ") }
        if let first = complaints.first {
            throw OSBuilderError("debugfs", file, String(first))
        }
    }

    static func debugfsPath(_ path: String) throws -> String {
        // debugfs's parser takes backslashes literally inside quotes, but not quotes or newlines.
        guard !path.contains("\""), !path.contains("\n") else {
            throw OSBuilderError("build image", path, "file names with double quotes or newlines are not supported")
        }
        return "\"\(path)\""
    }

    func verify(_ file: String) throws {
        context.progress.step("e2fsck -fn")
        let output = try Tool.e2fsck.run(["-f", "-n", file], check: false)
        guard output.status == 0 else {
            let text = String(decoding: output.stdout, as: UTF8.self) + output.stderr
            let line = text.split(separator: "\n").first(where: { !$0.hasPrefix("e2fsck ") && !$0.hasPrefix("Pass ") }) ?? "exit \(output.status)"
            throw OSBuilderError("e2fsck", file, String(line))
        }
    }
}
