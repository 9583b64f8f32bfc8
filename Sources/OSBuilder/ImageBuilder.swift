import Foundation

/// Options of `osbuilder image`.
public struct ImageOptions: Sendable {
    public var rootfs: String
    /// Root filesystem type (FS_TYPE).
    public var fsType: FilesystemType = .ext4
    /// Prepend upstream's 2 MiB MBR #1 + nd_pfn_sb header (boots as /dev/pmem0p1 and /dev/vda1).
    public var dax = true
    /// MEASURED_ROOTFS: a dm-verity hash tree in partition 2 and a root hash file beside the image.
    public var verity = false
    /// mkfs.erofs compressor ("lz4", "lz4hc,9"); nil = uncompressed, as upstream.
    public var erofsCompression: String?
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

/// Builds a raw disk image: MBR, the root filesystem (ext4, xfs or erofs, built rootless in a
/// file of its own) as partition 1 from 1 MiB, optionally a dm-verity hash partition 2, and
/// optionally the DAX header in front.
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
        public var filesystem: FilesystemType = .ext4
        /// Size of partition 1 (the filesystem may use less: erofs).
        public var partitionBytes: UInt64 = 0
        /// Bytes the filesystem itself occupies.
        public var filesystemBytes: UInt64 = 0
        public var verity: VerityParameters?
        public var hashPartitionOffset: UInt64?
        public var rootHashFile: String?
    }

    /// Where partition 1 and the hash partition sit in the file.
    struct Layout {
        var total: UInt64
        var partitionBytes: UInt64
        var hashOffset: UInt64?
    }

    /// Byte offset of partition 1 in the final file.
    public var partitionOffset: UInt64 { (options.dax ? Self.daxHeaderBytes : 0) + Self.mib }

    @discardableResult
    public func build(output: String) throws -> Result {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: options.rootfs, isDirectory: &isDir), isDir.boolValue else {
            throw OSBuilderError("build image", options.rootfs, "rootfs directory does not exist")
        }
        guard options.alignmentMB >= 1 else { throw OSBuilderError("build image", output, "IMAGE_SIZE_ALIGNMENT_MB must be at least 1") }
        // As the tree's content: sizes derived from these stay far from 64-bit overflow.
        let largestMB = FileTree.maximumContentBytes / Self.mib
        guard options.alignmentMB <= largestMB else {
            throw OSBuilderError("build image", output, "IMAGE_SIZE_ALIGNMENT_MB \(options.alignmentMB) exceeds \(largestMB) (1 TiB)")
        }
        guard options.freeSpaceMB <= largestMB else {
            throw OSBuilderError("build image", output, "--free-space \(options.freeSpaceMB) MiB exceeds \(largestMB) (1 TiB)")
        }
        if options.fsType == .erofs, options.freeSpaceMB > 0 {
            throw OSBuilderError("build image", output, "erofs is read-only: --free-space does not apply")
        }
        if options.erofsCompression != nil, options.fsType != .erofs {
            throw OSBuilderError("build image", output, "--erofs-compression needs --fs-type erofs")
        }
        for tool in options.fsType.tools + (options.verity ? [Tool.veritysetup] : []) { _ = try tool.locate() }
        let attributes = try TreeAttributes.load(rootfs: options.rootfs)
        let tree = try FileTree.scan(root: options.rootfs, attributes: attributes, epoch: options.sourceDateEpoch)
        _ = try tree.contentBytes()
        let digest = TreeDigest.compute(tree, epoch: options.sourceDateEpoch)
        let uuid = try options.uuid.map { try Self.checkUUID($0) } ?? digest.uuid(salt: 1)
        let seed = try options.hashSeed.map { try Self.checkUUID($0) } ?? digest.uuid(salt: 2)
        let salt = (digest.uuid(salt: 3) + digest.uuid(salt: 4)).filter { $0 != "-" }
        let formatter = options.fsType.formatter(FilesystemContext(tree: tree, options: options, uuid: uuid, hashSeed: seed, progress: progress))
        let rootHashFile = VerityParameters.rootHashFile(forImage: output)
        let scratch = try AtomicOutput(output)
        let fsFile = scratch.temporary + ".fs"
        let hashFile = scratch.temporary + ".hash"
        defer {
            unlink(fsFile)
            unlink(hashFile)
        }
        var result = try scratch.produce { temporary in
            // Build the filesystem in a file of its own (grown and retried when the estimate
            // was short), then lay it out.
            var layout: Layout
            var fsBytes: UInt64
            if var wanted = formatter.estimateBytes() {
                var attempt = 1
                while true {
                    layout = self.layout(filesystemBytes: wanted + options.freeSpaceMB * Self.mib)
                    progress.step("\(options.fsType.rawValue) \(layout.partitionBytes / Self.mib) MiB in an image of \(layout.total / Self.mib) MiB (attempt \(attempt))")
                    unlink(fsFile)
                    guard FileManager.default.createFile(atPath: fsFile, contents: nil), truncate(fsFile, off_t(layout.partitionBytes)) == 0 else {
                        throw OSBuilderError.errno("create", fsFile)
                    }
                    do {
                        fsBytes = try formatter.make(fsFile, bytes: layout.partitionBytes)
                        break
                    } catch is FilesystemFull where attempt < 6 {
                        wanted = wanted + wanted / 4 + 4 * Self.mib
                        attempt += 1
                    } catch let full as FilesystemFull {
                        throw OSBuilderError("build image", output, "rootfs does not fit after 6 size increases: \(full.detail)")
                    }
                }
            } else {
                fsBytes = try formatter.make(fsFile, bytes: nil)
                layout = self.layout(filesystemBytes: fsBytes)
                guard truncate(fsFile, off_t(layout.partitionBytes)) == 0 else { throw OSBuilderError.errno("extend", fsFile) }
            }
            try formatter.verify(fsFile)
            var verity: VerityParameters?
            if let hashOffset = layout.hashOffset {
                progress.step("veritysetup format: \(layout.partitionBytes / Self.blockSize) data blocks, hash tree at \(hashOffset)")
                let parameters = try VerityParameters.format(dataFile: fsFile, hashFile: hashFile, salt: salt)
                guard parameters.dataBlocks * Self.blockSize == layout.partitionBytes,
                    parameters.hashTreeBytesFit(layout.total - hashOffset)
                else { throw OSBuilderError("veritysetup format", fsFile, "hash tree does not match the planned layout") }
                verity = parameters
            }
            unlink(temporary)
            guard FileManager.default.createFile(atPath: temporary, contents: nil), truncate(temporary, off_t(layout.total)) == 0 else {
                throw OSBuilderError.errno("create", temporary)
            }
            try SparseCopy.copy(from: fsFile, length: layout.partitionBytes, to: temporary, at: partitionOffset)
            if let hashOffset = layout.hashOffset, let verity {
                try SparseCopy.copy(from: hashFile, length: VerityParameters.hashTreeBytes(dataBytes: layout.partitionBytes), to: temporary, at: hashOffset)
                if let problem = try verity.verify(dataFile: fsFile, hashFile: temporary, hashOffset: hashOffset) {
                    throw OSBuilderError("veritysetup verify", output, problem)
                }
            }
            try writeHeaders(temporary, layout: layout, uuid: uuid)
            var result = Result(totalBytes: layout.total, partitionOffset: partitionOffset, filesystemUUID: uuid)
            result.filesystem = options.fsType
            result.partitionBytes = layout.partitionBytes
            result.filesystemBytes = fsBytes
            result.verity = verity
            result.hashPartitionOffset = layout.hashOffset
            return result
        }
        // The root hash file goes beside the image once the image is in place; a stale one
        // from an earlier measured build would describe other bytes.
        if let verity = result.verity {
            try AtomicOutput(rootHashFile).produce { path in
                try write(verity.rendered(image: output, filesystem: options.fsType, dax: options.dax), to: path)
            }
            result.rootHashFile = rootHashFile
            progress.step("root hash \(verity.rootHash), kernel parameters in \(rootHashFile)")
        } else {
            unlink(rootHashFile)
        }
        return result
    }

    static func checkUUID(_ text: String) throws -> String {
        guard UUID(uuidString: text) != nil else { throw OSBuilderError("parse UUID", text, "expected 8-4-4-4-12 hex digits") }
        return text.lowercased()
    }

    /// The hash partition: the tree for `dataBytes`, whole MiB (parted's alignment).
    static func hashPartitionBytes(dataBytes: UInt64) -> UInt64 {
        let bytes = VerityParameters.hashTreeBytes(dataBytes: dataBytes)
        return (bytes + mib - 1) / mib * mib
    }

    /// Sizes for a filesystem needing `filesystemBytes`: the file rounded up to the alignment,
    /// partition 1 taking all the slack (and the hash partition what its tree needs).
    func layout(filesystemBytes: UInt64) -> Layout {
        let needed = (filesystemBytes + Self.mib - 1) / Self.mib * Self.mib
        var total = totalBytes(filesystemBytes: needed + (options.verity ? Self.hashPartitionBytes(dataBytes: needed) : 0))
        while true {
            guard options.verity else { return Layout(total: total, partitionBytes: total - partitionOffset, hashOffset: nil) }
            // The hash partition sized for the whole remainder is an upper bound for the tree
            // of what partition 1 ends up holding.
            let hashBytes = Self.hashPartitionBytes(dataBytes: total - partitionOffset)
            let partition = total - partitionOffset - hashBytes
            if partition >= needed { return Layout(total: total, partitionBytes: partition, hashOffset: partitionOffset + partition) }
            total = totalBytes(filesystemBytes: total - partitionOffset + Self.mib)
        }
    }

    func totalBytes(filesystemBytes: UInt64) -> UInt64 {
        // With the DAX header the file is an NVDIMM namespace, whose end the kernel's nd_pfn
        // wants on a 2 MiB boundary ("resource end misaligned", probe fails with EOPNOTSUPP):
        // an odd number of MiB would build fine and never boot from /dev/pmem0p1.
        let alignmentMB = options.dax ? max(options.alignmentMB, Self.daxHeaderBytes / Self.mib) : options.alignmentMB
        let alignment = alignmentMB * Self.mib
        let raw = partitionOffset + filesystemBytes
        // Whole 4 KiB blocks always; whole alignment units for the file.
        return (raw + alignment - 1) / alignment * alignment
    }

    func writeHeaders(_ file: String, layout: Layout, uuid: String) throws {
        let fd = open(file, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { throw OSBuilderError.errno("open", file) }
        defer { close(fd) }
        let sectors = layout.partitionBytes / MBR.sectorSize
        let hashSectors = layout.hashOffset.map { (layout.total - $0) / MBR.sectorSize } ?? 0
        guard layout.total / MBR.sectorSize <= UInt64(UInt32.max) else { throw OSBuilderError("build image", file, "larger than an MBR can describe (2 TiB)") }
        let signature = TreeDigest.diskSignature(uuid: uuid)
        func put(_ bytes: [UInt8], at offset: UInt64) throws {
            let wrote = bytes.withUnsafeBytes { pwrite(fd, $0.baseAddress, bytes.count, off_t(offset)) }
            guard wrote == bytes.count else { throw OSBuilderError.errno("write header", file) }
        }
        /// The table as seen from `base` (0 for virtio-blk, 2 MiB for the pmem namespace).
        func table(base: UInt64) -> MBR {
            var mbr = MBR(diskSignature: signature, startSector: UInt32((partitionOffset - base) / MBR.sectorSize), sectorCount: UInt32(sectors))
            if let hashOffset = layout.hashOffset {
                mbr.second = MBR.Entry(startSector: UInt32((hashOffset - base) / MBR.sectorSize), sectorCount: UInt32(hashSectors))
            }
            return mbr
        }
        if options.dax {
            try put(table(base: 0).encoded(), at: 0)
            try put(PFNHeader(dataOffset: Self.daxHeaderBytes, alignment: UInt32(Self.daxHeaderBytes)).encoded(), at: UInt64(PFNHeader.offset))
        }
        try put(table(base: options.dax ? Self.daxHeaderBytes : 0).encoded(), at: options.dax ? Self.daxHeaderBytes : 0)
    }
}

extension VerityParameters {
    /// Whether this tree fits in a hash partition of `bytes`.
    func hashTreeBytesFit(_ bytes: UInt64) -> Bool {
        VerityParameters.hashTreeBytes(dataBytes: dataBlocks * dataBlockSize) <= bytes
    }
}
