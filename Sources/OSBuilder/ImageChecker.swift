import Foundation

/// `osbuilder check IMAGE`: partition table and DAX header, the filesystem type and sizes, the
/// type's own checker, the tree inside, and the dm-verity tree against the root hash file.
extension Checker {
    func checkImage(_ path: String, head: [UInt8]) throws -> Report {
        var report = Report(kind: "disk image \(path)")
        guard let mbr = MBR.decode(head) else { throw OSBuilderError("check", path, "no MBR") }
        var st = stat()
        guard stat(path, &st) == 0 else { throw OSBuilderError.errno("stat", path) }
        let imageBytes = UInt64(st.st_size)
        let offset = UInt64(mbr.startSector) * MBR.sectorSize
        let partitionBytes = UInt64(mbr.sectorCount) * MBR.sectorSize
        report.ok("MBR: partition 1 type 0x\(String(mbr.type, radix: 16)) at \(offset) bytes, \(partitionBytes) bytes; image \(imageBytes) bytes")
        let hashOffset = mbr.second.map { UInt64($0.startSector) * MBR.sectorSize }
        if let second = mbr.second, let hashOffset {
            report.ok("MBR: partition 2 (dm-verity hash tree) at \(hashOffset) bytes, \(UInt64(second.sectorCount) * MBR.sectorSize) bytes")
        }
        guard offset + partitionBytes <= imageBytes else {
            report.fail("partition 1 runs past the end of the file")
            return report
        }
        checkDAXHeader(path, head: head, mbr: mbr, report: &report)

        // The filesystem tools want the partition as a file of its own (xfsprogs and
        // erofs-utils 1.5 take no offset): a sparse copy.
        let scratch = NSTemporaryDirectory() + "/osbuilder-check-\(getpid())"
        try? FileManager.default.removeItem(atPath: scratch)
        try makeDirectory(scratch)
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let partition = scratch + "/partition1"
        guard FileManager.default.createFile(atPath: partition, contents: nil), truncate(partition, off_t(partitionBytes)) == 0 else {
            throw OSBuilderError.errno("create", partition)
        }
        try SparseCopy.copy(from: path, offset: offset, length: partitionBytes, to: partition, at: 0)
        let fsHead = readBytes(partition, at: 0, count: 4096) ?? []
        guard let type = FilesystemType.detect(fsHead) else {
            report.fail("partition 1 holds no ext4, xfs or erofs superblock")
            return report
        }
        let used = Self.filesystemBytes(type, head: fsHead).map { "\($0) bytes" } ?? "size unknown"
        report.ok("filesystem \(type.rawValue): \(used) in a partition of \(partitionBytes) bytes")
        checkFilesystem(type, partition, report: &report)
        try checkTree(type, partition, scratch: scratch, report: &report)
        checkVerity(path, partition: partition, partitionBytes: partitionBytes, hashOffset: hashOffset, report: &report)
        return report
    }

    func checkDAXHeader(_ path: String, head: [UInt8], mbr: MBR, report: inout Report) {
        guard head.count >= PFNHeader.offset + PFNHeader.size, Array(head[PFNHeader.offset..<PFNHeader.offset + 16]) == PFNHeader.signature else { return }
        guard let pfn = PFNHeader.decode(Array(head[PFNHeader.offset..<PFNHeader.offset + PFNHeader.size])) else {
            report.fail("DAX header present but its checksum is wrong")
            return
        }
        report.ok("DAX header: nd_pfn_sb v\(pfn.versionMajor).\(pfn.versionMinor), dataoff \(pfn.dataOffset), mode \(pfn.mode), checksum valid")
        let base = pfn.dataOffset / MBR.sectorSize
        if let inner = readBytes(path, at: pfn.dataOffset, count: 512), let second = MBR.decode(inner),
            UInt64(second.startSector) + base == UInt64(mbr.startSector), second.sectorCount == mbr.sectorCount,
            second.second.map({ UInt64($0.startSector) + base }) == mbr.second.map({ UInt64($0.startSector) }),
            second.second?.sectorCount == mbr.second?.sectorCount
        {
            report.ok("MBR #2 at \(pfn.dataOffset) points at the same partitions (pmem0p1 == vda1)")
        } else {
            report.fail("MBR #2 at the DAX data offset is missing or points elsewhere")
        }
    }

    /// Bytes the filesystem occupies, from its superblock.
    static func filesystemBytes(_ type: FilesystemType, head: [UInt8]) -> UInt64? {
        func be(_ at: Int, _ count: Int) -> UInt64 { head[at..<at + count].reduce(0) { $0 << 8 | UInt64($1) } }
        switch type {
        case .ext4:
            guard head.count >= 1024 + 0x154 else { return nil }
            var blocks = UInt64(get32(head, 1024 + 4))
            if get32(head, 1024 + 0x60) & 0x80 != 0 { blocks |= UInt64(get32(head, 1024 + 0x150)) << 32 }
            let shift = get32(head, 1024 + 24)
            guard shift < 8 else { return nil }
            let (bytes, overflow) = blocks.multipliedReportingOverflow(by: 1024 << UInt64(shift))
            return overflow ? nil : bytes
        case .xfs:
            guard head.count >= 16 else { return nil }
            let (bytes, overflow) = be(4, 4).multipliedReportingOverflow(by: be(8, 8))
            return overflow ? nil : bytes
        case .erofs:
            guard head.count >= 1024 + 40, head[1024 + 12] < 20 else { return nil }
            return UInt64(get32(head, 1024 + 36)) << UInt64(head[1024 + 12])
        }
    }

    func checkFilesystem(_ type: FilesystemType, _ partition: String, report: inout Report) {
        let (tool, arguments, name): (Tool, [String], String)
        switch type {
        case .ext4: (tool, arguments, name) = (.e2fsck, ["-f", "-n"], "e2fsck -fn")
        case .xfs: (tool, arguments, name) = (.xfsRepair, ["-n", "-f"], "xfs_repair -n")
        case .erofs: (tool, arguments, name) = (.fsckEROFS, [], "fsck.erofs")
        }
        do {
            let output = try tool.run(arguments + [partition], check: false)
            if output.status == 0 { report.ok("\(name): clean") } else { report.fail("\(name): exit \(output.status)") }
        } catch let error as OSBuilderError {
            report.fail("\(name): \(error.reason)")
        } catch {
            report.fail("\(name): \(error)")
        }
    }

    /// The rootfs checks on the tree inside: extracted rootless where a tool can (debugfs,
    /// fsck.erofs); xfs has no rootless reader, so it is loop-mounted read-only as root.
    func checkTree(_ type: FilesystemType, _ partition: String, scratch: String, report: inout Report) throws {
        let extracted = scratch + "/tree"
        switch type {
        case .ext4:
            try makeDirectory(extracted)
            try Tool.debugfs.run(["-R", "rdump / \(extracted)", partition], operation: "debugfs rdump")
            checkTree(DirectoryView(root: extracted), report: &report, needsInit: false)
        case .erofs:
            try Tool.fsckEROFS.run(["--extract=\(extracted)", "--no-preserve-owner", "--preserve-perms", partition], operation: "fsck.erofs --extract")
            checkTree(DirectoryView(root: extracted), report: &report, needsInit: false)
        case .xfs:
            guard geteuid() == 0 else {
                report.ok("tree not inspected: xfs has no rootless reader (run check as root to loop-mount it)")
                return
            }
            try makeDirectory(extracted)
            let mount = try Tool("mount", package: "mount").run(["-t", "xfs", "-o", "loop,ro,norecovery", partition, extracted], check: false)
            guard mount.status == 0 else {
                report.fail("loop mount of the xfs partition failed: \(mount.stderr.split(separator: "\n").last ?? "")")
                return
            }
            defer { _ = try? Tool("umount", package: "mount").run([extracted], check: false) }
            checkTree(DirectoryView(root: extracted), report: &report, needsInit: false)
        }
    }

    func checkVerity(_ path: String, partition: String, partitionBytes: UInt64, hashOffset: UInt64?, report: inout Report) {
        let file = VerityParameters.rootHashFile(forImage: path)
        let text = FileManager.default.contents(atPath: file).map { String(decoding: $0, as: UTF8.self) }
        guard let hashOffset else {
            if text != nil { report.fail("\(file) exists but the image has no hash partition") }
            return
        }
        guard let text else {
            report.fail("hash partition present but no root hash file \(file)")
            return
        }
        do {
            let parameters = try VerityParameters.parse(text, file: file)
            guard parameters.dataBlocks * parameters.dataBlockSize == partitionBytes else {
                report.fail("dm-verity: \(file) covers \(parameters.dataBlocks) blocks, partition 1 has \(partitionBytes / parameters.dataBlockSize)")
                return
            }
            if let problem = try parameters.verify(dataFile: partition, hashFile: path, hashOffset: hashOffset) {
                report.fail("dm-verity: partition 1 does not match root hash \(parameters.rootHash): \(problem)")
            } else {
                report.ok("dm-verity: \(parameters.dataBlocks) blocks match root hash \(parameters.rootHash) (\(file))")
            }
        } catch let error as OSBuilderError {
            report.fail("dm-verity: \(error.description)")
        } catch {
            report.fail("dm-verity: \(error)")
        }
    }
}
