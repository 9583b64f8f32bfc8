import Foundation

/// Options of `osbuilder image`.
public struct ImageOptions: Sendable {
    public var rootfs: String
    /// Prepend upstream's 2 MiB MBR #1 + nd_pfn_sb header (boots as /dev/pmem0p1 and /dev/vda1).
    public var dax = true
    public var freeSpaceMB: UInt64 = 0
    /// IMAGE_SIZE_ALIGNMENT_MB: 128 as upstream (memory-hotplug alignment for NVDIMM); 1 = smallest.
    public var alignmentMB: UInt64 = 128
    public var uuid: String?
    public var hashSeed: String?
    public var sourceDateEpoch: Int64?
    public var reservedPercent = 3

    public init(rootfs: String) {
        self.rootfs = rootfs
    }
}

/// Builds a raw disk image: MBR, one ext4 partition from 1 MiB populated with `mkfs.ext4 -d`
/// on a regular file (no root, no loop device, no mount), optional DAX header.
public struct ImageBuilder {
    public static let mib: UInt64 = 1 << 20
    public static let blockSize: UInt64 = 4096
    public static let daxHeaderBytes: UInt64 = 2 << 20

    public var options: ImageOptions
    public var progress: BuildProgress

    public init(options: ImageOptions, progress: BuildProgress = BuildProgress()) {
        self.options = options
        self.progress = progress
    }

    /// What was written.
    public struct Result: Sendable {
        public var totalBytes: UInt64
        public var partitionOffset: UInt64
        public var filesystemUUID: String
    }

    /// Byte offset of the ext4 partition in the final file.
    public var partitionOffset: UInt64 { (options.dax ? Self.daxHeaderBytes : 0) + Self.mib }

    @discardableResult
    public func build(output: String) throws -> Result {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: options.rootfs, isDirectory: &isDir), isDir.boolValue else {
            throw OSBuilderError("build image", options.rootfs, "rootfs directory does not exist")
        }
        guard options.alignmentMB >= 1 else { throw OSBuilderError("build image", output, "IMAGE_SIZE_ALIGNMENT_MB must be at least 1") }
        for tool in [Tool.mkfsExt4, .debugfs, .e2fsck] { _ = try tool.locate() }
        let attributes = try TreeAttributes.load(rootfs: options.rootfs)
        let tree = try FileTree.scan(root: options.rootfs, attributes: attributes, epoch: options.sourceDateEpoch)
        let digest = TreeDigest.compute(tree, epoch: options.sourceDateEpoch)
        let uuid = try options.uuid.map { try Self.checkUUID($0) } ?? digest.uuid(salt: 1)
        let seed = try options.hashSeed.map { try Self.checkUUID($0) } ?? digest.uuid(salt: 2)
        var fsBytes = estimateFilesystemBytes(tree)
        return try AtomicOutput(output).produce { temporary in
            for attempt in 1...6 {
                let total = totalBytes(filesystemBytes: fsBytes)
                let partitionBytes = total - partitionOffset
                progress.step("image \(total / Self.mib) MiB, ext4 \(partitionBytes / Self.mib) MiB at offset \(partitionOffset / Self.mib) MiB (attempt \(attempt))")
                unlink(temporary)
                guard FileManager.default.createFile(atPath: temporary, contents: nil), truncate(temporary, off_t(total)) == 0 else {
                    throw OSBuilderError.errno("create", temporary)
                }
                do {
                    try makeFilesystem(temporary, bytes: partitionBytes, tree: tree, uuid: uuid, seed: seed)
                } catch let error as OSBuilderError where error.reason.contains("Could not allocate") || error.reason.contains("No space") {
                    // The estimate was short (alignment 1 leaves no slack): grow and retry.
                    fsBytes = fsBytes + fsBytes / 4 + 4 * Self.mib
                    continue
                }
                try fixUp(temporary, tree: tree)
                try writeHeaders(temporary, total: total, uuid: uuid)
                try verify(temporary)
                return Result(totalBytes: total, partitionOffset: partitionOffset, filesystemUUID: uuid)
            }
            throw OSBuilderError("build image", output, "rootfs does not fit after 6 size increases")
        }
    }

    static func checkUUID(_ text: String) throws -> String {
        guard UUID(uuidString: text) != nil else { throw OSBuilderError("parse UUID", text, "expected 8-4-4-4-12 hex digits") }
        return text.lowercased()
    }

    /// Content blocks plus inode tables, directories, journal and reserved blocks.
    func estimateFilesystemBytes(_ tree: FileTree) -> UInt64 {
        var blocks: UInt64 = 0
        for entry in tree.entries {
            switch entry.kind {
            case .regular: blocks += (entry.size + Self.blockSize - 1) / Self.blockSize
            case .directory: blocks += 1
            case .symlink where entry.linkTarget.utf8.count >= 60: blocks += 1
            default: break
            }
        }
        let inodes = inodeCount(tree, filesystemBytes: 0)
        var bytes = blocks * Self.blockSize + blocks * Self.blockSize / 20 + inodes * 256 + 2 * Self.mib
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

    func inodeCount(_ tree: FileTree, filesystemBytes: UInt64) -> UInt64 {
        max(UInt64(tree.entries.count) * 5 / 4 + 64, filesystemBytes / 16384)
    }

    func totalBytes(filesystemBytes: UInt64) -> UInt64 {
        // With the DAX header the file is an NVDIMM namespace, whose end the kernel's nd_pfn
        // wants on a 2 MiB boundary ("resource end misaligned", probe fails with EOPNOTSUPP):
        // an odd number of MiB would build fine and never boot from /dev/pmem0p1.
        let alignmentMB = options.dax ? max(options.alignmentMB, Self.daxHeaderBytes / Self.mib) : options.alignmentMB
        let alignment = alignmentMB * Self.mib
        let raw = partitionOffset + filesystemBytes + options.freeSpaceMB * Self.mib
        // Whole 4 KiB blocks always; whole alignment units for the file.
        return (raw + alignment - 1) / alignment * alignment
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

    func toolEnvironment() throws -> [String: String] {
        let config = NSTemporaryDirectory() + "/osbuilder-mke2fs-\(getpid()).conf"
        try write(Self.mke2fsConfig, to: config)
        var env = ["MKE2FS_CONFIG": config]
        if let epoch = options.sourceDateEpoch { env["E2FSPROGS_FAKE_TIME"] = String(epoch) }
        return env
    }

    func makeFilesystem(_ file: String, bytes: UInt64, tree: FileTree, uuid: String, seed: String) throws {
        let env = try toolEnvironment()
        defer { if let config = env["MKE2FS_CONFIG"] { unlink(config) } }
        let blocks = bytes / Self.blockSize
        progress.step("mkfs.ext4 -d \(options.rootfs)")
        try Tool.mkfsExt4.run([
            "-q", "-F", "-t", "ext4", "-b", "4096", "-I", "256", "-m", String(options.reservedPercent),
            "-N", String(inodeCount(tree, filesystemBytes: bytes)), "-U", uuid,
            "-E", "hash_seed=\(seed),root_owner=0:0,offset=\(partitionOffset),nodiscard",
            "-d", options.rootfs, file, String(blocks),
        ], environment: env, operation: "mkfs.ext4")
    }

    /// The filesystem as e2fsprogs addresses a partition inside a file.
    func partitionSpec(_ file: String) -> String { "\(file)?offset=\(partitionOffset)" }

    /// mkfs -d copies on-disk owners and times; set what the outputs must carry instead
    /// (template owners, clamped mtimes, atime = ctime = mtime) and add device nodes.
    func fixUp(_ file: String, tree: FileTree) throws {
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
        let scriptPath = NSTemporaryDirectory() + "/osbuilder-debugfs-\(getpid()).cmds"
        try write(script, to: scriptPath)
        defer { unlink(scriptPath) }
        progress.step("debugfs: owners, times and device nodes for \(tree.entries.count) entries")
        let env = try toolEnvironment()
        defer { if let config = env["MKE2FS_CONFIG"] { unlink(config) } }
        let output = try Tool.debugfs.run(["-w", "-f", scriptPath, partitionSpec(file)], environment: env, operation: "debugfs")
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

    func writeHeaders(_ file: String, total: UInt64, uuid: String) throws {
        let fd = open(file, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { throw OSBuilderError.errno("open", file) }
        defer { close(fd) }
        let sectors = (total - partitionOffset) / MBR.sectorSize
        guard sectors <= UInt64(UInt32.max) else { throw OSBuilderError("build image", file, "larger than an MBR can describe (2 TiB)") }
        let signature = TreeDigest.diskSignature(uuid: uuid)
        func put(_ bytes: [UInt8], at offset: UInt64) throws {
            let wrote = bytes.withUnsafeBytes { pwrite(fd, $0.baseAddress, bytes.count, off_t(offset)) }
            guard wrote == bytes.count else { throw OSBuilderError.errno("write header", file) }
        }
        if options.dax {
            let first = MBR(diskSignature: signature, startSector: UInt32(partitionOffset / MBR.sectorSize), sectorCount: UInt32(sectors))
            try put(first.encoded(), at: 0)
            try put(PFNHeader(dataOffset: Self.daxHeaderBytes, alignment: UInt32(Self.daxHeaderBytes)).encoded(), at: UInt64(PFNHeader.offset))
        }
        let base: UInt64 = options.dax ? Self.daxHeaderBytes : 0
        let mbr = MBR(diskSignature: signature, startSector: UInt32(Self.mib / MBR.sectorSize), sectorCount: UInt32(sectors))
        try put(mbr.encoded(), at: base)
    }

    func verify(_ file: String) throws {
        progress.step("e2fsck -fn")
        let output = try Tool.e2fsck.run(["-f", "-n", partitionSpec(file)], check: false)
        guard output.status == 0 else {
            let text = String(decoding: output.stdout, as: UTF8.self) + output.stderr
            let line = text.split(separator: "\n").first(where: { !$0.hasPrefix("e2fsck ") && !$0.hasPrefix("Pass ") }) ?? "exit \(output.status)"
            throw OSBuilderError("e2fsck", file, String(line))
        }
    }
}
