import Foundation
import XCTest
@testable import OSBuilder

/// ext4, xfs and erofs images and dm-verity: reproducible bytes, read back with each type's
/// own rootless tools, loop-mounted as root, verity verified and broken by one flipped byte.
final class ImageFormatTests: XCTestCase {
    static let epoch: Int64 = 1_700_000_000

    func requireTools(_ type: FilesystemType, verity: Bool = false) throws {
        for tool in type.tools + (verity ? [Tool.veritysetup] : []) where !tool.isAvailable {
            throw XCTSkip("\(tool.name) missing: apt-get install \(tool.package) (make deps)")
        }
    }

    func rootfs(into dir: String, agent: String? = nil) throws -> String {
        var options = RootfsOptions(template: try TestSupport.templates.load("busybox"))
        options.agentBinary = try agent ?? TestSupport.standInAgent()
        options.sourceDateEpoch = Self.epoch
        let path = "\(dir)/rootfs"
        try RootfsBuilder(options: options, progress: BuildProgress(quiet: true)).build(into: path)
        return path
    }

    func image(_ rootfs: String, _ type: FilesystemType, to path: String, verity: Bool = false, dax: Bool = true,
               alignment: UInt64 = 1, compression: String? = nil) throws -> ImageBuilder.Result {
        var options = ImageOptions(rootfs: rootfs)
        options.fsType = type
        options.verity = verity
        options.dax = dax
        options.alignmentMB = alignment
        options.erofsCompression = compression
        options.sourceDateEpoch = Self.epoch
        return try ImageBuilder(options: options, progress: BuildProgress(quiet: true)).build(output: path)
    }

    /// Partition 1 as a file of its own (the xfs and erofs tools take no offset).
    func partition(_ image: String, _ result: ImageBuilder.Result, in dir: String) throws -> String {
        let path = "\(dir)/partition1-\(UUID().uuidString.prefix(8))"
        XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: nil))
        XCTAssertEqual(truncate(path, off_t(result.partitionBytes)), 0)
        try SparseCopy.copy(from: image, offset: result.partitionOffset, length: result.partitionBytes, to: path, at: 0)
        return path
    }

    /// The first differing bytes of two files, as `cmp -l` lists them, for a failure message.
    func differences(_ a: String, _ b: String) throws -> String? {
        let (status, out, err) = try TestSupport.run("/usr/bin/cmp", ["-l", a, b])
        guard status != 0 else { return nil }
        let lines = String(decoding: out, as: UTF8.self).split(separator: "\n")
        return "\(lines.count) bytes differ (offset, octal a, octal b): " + lines.prefix(20).joined(separator: "; ") + err
    }

    /// For every type, with and without verity: two builds in different directories, from
    /// trees with different file times, some seconds apart, give the same bytes.
    func testEveryTypeIsByteIdenticalAcrossDirectoriesAndTimes() throws {
        let agent = try TestSupport.standInAgent()
        let types = FilesystemType.allCases.filter { (try? requireTools($0, verity: true)) != nil }
        guard !types.isEmpty else { throw XCTSkip("no filesystem tools") }
        var dirs: [String] = []
        for round in 0..<2 {
            let dir = try TestSupport.temporaryDirectory("formats\(round)")
            let copy = "\(dir)/agent-copy"
            try FileManager.default.copyItem(atPath: agent, toPath: copy)
            var times = [timespec(tv_sec: Int(Self.epoch) + 1000 * (round + 1), tv_nsec: 0), timespec(tv_sec: Int(Self.epoch) + 1000 * (round + 1), tv_nsec: 0)]
            XCTAssertEqual(utimensat(AT_FDCWD, copy, &times, 0), 0)
            let root = try rootfs(into: dir, agent: copy)
            for type in types {
                _ = try image(root, type, to: "\(dir)/\(type.rawValue).img")
                _ = try image(root, type, to: "\(dir)/\(type.rawValue)-verity.img", verity: true)
            }
            if round == 0 {
                // Different wall-clock seconds for the two rounds: a mkfs that stamps "now"
                // would show it. Waits for the clock to tick, not a fixed time.
                let start = time(nil)
                while time(nil) == start { usleep(10_000) }
            }
            dirs.append(dir)
        }
        for type in types {
            for name in ["\(type.rawValue).img", "\(type.rawValue)-verity.img", "\(type.rawValue)-verity.img.root_hash.txt"] {
                XCTAssertNil(try differences("\(dirs[0])/\(name)", "\(dirs[1])/\(name)"), "\(name) differs")
            }
        }
    }

    /// Each type read back with its own tools, none of which needs root.
    func testReadBackWithoutRoot() throws {
        let dir = try TestSupport.temporaryDirectory()
        let root = try rootfs(into: dir)
        if (try? requireTools(.ext4)) != nil {
            let result = try image(root, .ext4, to: "\(dir)/ext4.img")
            let part = try partition("\(dir)/ext4.img", result, in: dir)
            let (_, stat, _) = try TestSupport.run("/sbin/debugfs", ["-R", "stat /sbin/init", part])
            let text = String(decoding: stat, as: UTF8.self)
            XCTAssertTrue(text.contains("User:     0   Group:     0"), text)
            XCTAssertTrue(text.contains("mtime: 0x6553f100"), text)
        }
        if (try? requireTools(.xfs)) != nil {
            let result = try image(root, .xfs, to: "\(dir)/xfs.img")
            XCTAssertGreaterThanOrEqual(result.partitionBytes, XFSFormatter.minimumBytes)
            let part = try partition("\(dir)/xfs.img", result, in: dir)
            let (status, out, err) = try TestSupport.run(try Tool.xfsDB.locate(), ["-r", "-c", "path /sbin/init", "-c", "print core.uid core.gid core.mode core.mtime.sec v3.crtime.sec", "-c", "path /tmp", "-c", "print core.mode", "-c", "sb 0", "-c", "print uuid", part])
            let text = String(decoding: out, as: UTF8.self)
            XCTAssertEqual(status, 0, err)
            XCTAssertTrue(text.contains("core.uid = 0") && text.contains("core.gid = 0"), text)
            XCTAssertTrue(text.contains("core.mode = 0100755"), text)
            XCTAssertTrue(text.contains("core.mode = 041777"), "sticky /tmp: \(text)")
            XCTAssertTrue(text.contains("core.mtime.sec = Tue Nov 14 22:13:20 2023"), text)
            XCTAssertTrue(text.contains("v3.crtime.sec = Tue Nov 14 22:13:20 2023"), text)
            XCTAssertTrue(text.contains("uuid = \(result.filesystemUUID)"), text)
            let (repair, _, repairErr) = try TestSupport.run(try Tool.xfsRepair.locate(), ["-n", "-f", part])
            XCTAssertEqual(repair, 0, repairErr)
        }
        if (try? requireTools(.erofs)) != nil {
            for compression in [nil, "lz4hc"] {
                let result = try image(root, .erofs, to: "\(dir)/erofs.img", compression: compression)
                let part = try partition("\(dir)/erofs.img", result, in: dir)
                let (fsck, _, fsckErr) = try TestSupport.run(try Tool.fsckEROFS.locate(), [part])
                XCTAssertEqual(fsck, 0, fsckErr)
                let (_, out, err) = try TestSupport.run("/usr/bin/dump.erofs", ["--path=/sbin/init", part])
                let text = String(decoding: out, as: UTF8.self)
                XCTAssertTrue(text.contains("Uid: 0   Gid: 0") && text.contains("0755"), text + err)
                XCTAssertTrue(text.contains("Timestamp: 2023-11-14 22:13:20"), text)
                let (_, sb, _) = try TestSupport.run("/usr/bin/dump.erofs", ["-s", part])
                let super_ = String(decoding: sb, as: UTF8.self)
                XCTAssertTrue(super_.contains(result.filesystemUUID), super_)
                // Layout 0: flat, no inline tail (-E noinline_data); 3: compressed clusters.
                let (_, file, _) = try TestSupport.run("/usr/bin/dump.erofs", ["--path=/bin/busybox", part])
                let busybox = String(decoding: file, as: UTF8.self)
                XCTAssertTrue(busybox.contains(compression == nil ? "Layout: 0" : "Layout: 3"), busybox)
            }
        }
    }

    /// As root: each type loop-mounted read-only matches the rootfs tree (names, modes,
    /// owners, mtimes, link targets, contents).
    func testLoopMountedImagesMatchRootfs() throws {
        guard TestSupport.isRoot else { throw XCTSkip("loop mounting needs root") }
        let dir = try TestSupport.temporaryDirectory()
        let root = try rootfs(into: dir)
        let source = try FileTree.scan(root: root, attributes: try TreeAttributes.load(rootfs: root), epoch: Self.epoch)
        for type in FilesystemType.allCases {
            guard (try? requireTools(type)) != nil else { continue }
            let result = try image(root, type, to: "\(dir)/\(type.rawValue).img")
            let mnt = "\(dir)/mnt-\(type.rawValue)"
            try FileManager.default.createDirectory(atPath: mnt, withIntermediateDirectories: true)
            let (status, _, err) = try TestSupport.run("/bin/mount", ["-o", "loop,ro,offset=\(result.partitionOffset)", "-t", type.rawValue, "\(dir)/\(type.rawValue).img", mnt])
            guard status == 0 else {
                XCTFail("loop mount of \(type.rawValue) failed: \(err)")
                continue
            }
            defer { _ = try? TestSupport.run("/bin/umount", [mnt]) }
            let mounted = try FileTree.scan(root: mnt, attributes: TreeAttributes(owners: .preserve), epoch: nil)
            let entries = mounted.entries.filter { $0.path != "lost+found" }
            XCTAssertEqual(entries.map(\.path), source.entries.map(\.path), type.rawValue)
            for (a, b) in zip(source.entries, entries) {
                XCTAssertEqual(a.mode, b.mode, "\(type.rawValue) \(a.path)")
                XCTAssertEqual(a.owner, b.owner, "\(type.rawValue) \(a.path)")
                XCTAssertEqual(a.mtime, b.mtime, "\(type.rawValue) \(a.path)")
                XCTAssertEqual(a.linkTarget, b.linkTarget, "\(type.rawValue) \(a.path)")
                if a.kind == .regular {
                    XCTAssertEqual(FileManager.default.contents(atPath: "\(root)/\(a.path)"), FileManager.default.contents(atPath: "\(mnt)/\(b.path)"), "\(type.rawValue) \(a.path)")
                }
            }
            _ = try TestSupport.run("/bin/umount", [mnt])
        }
    }

    /// `check` recognises each type with and without verity and reports its sizes.
    func testCheckRecognisesEveryType() throws {
        let dir = try TestSupport.temporaryDirectory()
        let root = try rootfs(into: dir)
        for type in FilesystemType.allCases {
            guard (try? requireTools(type, verity: true)) != nil else { continue }
            for verity in [false, true] {
                let path = "\(dir)/\(type.rawValue)\(verity ? "-verity" : "").img"
                let result = try image(root, type, to: path, verity: verity)
                let report = try Checker().check(path)
                let text = report.rendered()
                XCTAssertTrue(report.passed, text)
                XCTAssertTrue(text.contains("filesystem \(type.rawValue): "), text)
                XCTAssertTrue(text.contains("in a partition of \(result.partitionBytes) bytes"), text)
                XCTAssertTrue(text.contains("image \(result.totalBytes) bytes"), text)
                XCTAssertEqual(text.contains("dm-verity: "), verity, text)
                if type != .xfs || TestSupport.isRoot { XCTAssertTrue(text.contains("/sbin/init: statically linked"), text) }
            }
        }
    }

    /// Verity: the layout, the root hash file and its kernel parameters, check passing, then
    /// failing after one flipped byte in the data, one in the hash tree, and without the file.
    func testVerityImageLayoutRootHashFileAndOneFlippedByte() throws {
        try requireTools(.erofs, verity: true)
        let dir = try TestSupport.temporaryDirectory()
        let root = try rootfs(into: dir)
        let path = "\(dir)/verity.img"
        let result = try image(root, .erofs, to: path, verity: true)
        let verity = try XCTUnwrap(result.verity)
        let hashOffset = try XCTUnwrap(result.hashPartitionOffset)
        XCTAssertEqual(result.partitionOffset + result.partitionBytes, hashOffset, "hash partition right after partition 1")
        XCTAssertEqual(verity.dataBlocks * 4096, result.partitionBytes)
        XCTAssertGreaterThanOrEqual(result.totalBytes - hashOffset, VerityParameters.hashTreeBytes(dataBytes: result.partitionBytes))
        XCTAssertEqual(verity.salt.count, 64)
        // Both tables (virtio-blk at 0, pmem namespace at 2 MiB) carry both partitions.
        let head = [UInt8](try XCTUnwrap(FileHandle(forReadingAtPath: path)?.read(upToCount: (2 << 20) + 512)))
        for (base, mbr) in [(UInt64(0), MBR.decode(Array(head[0..<512]))), (UInt64(2 << 20), MBR.decode(Array(head[(2 << 20)...])))] {
            let table = try XCTUnwrap(mbr)
            XCTAssertEqual(UInt64(table.startSector) * 512 + base, result.partitionOffset)
            XCTAssertEqual(UInt64(try XCTUnwrap(table.second).startSector) * 512 + base, hashOffset)
            XCTAssertEqual((UInt64(table.second?.startSector ?? 0) + UInt64(table.second?.sectorCount ?? 0)) * 512 + base, result.totalBytes)
        }
        let file = try XCTUnwrap(result.rootHashFile)
        XCTAssertEqual(file, path + ".root_hash.txt")
        let text = try String(contentsOfFile: file, encoding: .utf8)
        XCTAssertEqual(try VerityParameters.parse(text, file: file), verity)
        let sectors = result.partitionBytes / 512
        XCTAssertTrue(text.contains("kernel_params:\tdm-mod.create=\"dm-verity,,,ro,0 \(sectors) verity 1 /dev/vda1 /dev/vda2 4096 4096 \(verity.dataBlocks) 0 sha256 \(verity.rootHash) \(verity.salt)\" root=/dev/dm-0 ro rootfstype=erofs"), text)
        XCTAssertTrue(text.contains("kernel_verity_params:\troot_hash=\(verity.rootHash),salt=\(verity.salt),data_blocks=\(verity.dataBlocks),data_block_size=4096,hash_block_size=4096"), text)
        XCTAssertTrue(text.contains("/dev/pmem0p1 /dev/pmem0p2"), "NVDIMM variant for a DAX image: \(text)")
        XCTAssertTrue(try Checker().check(path).passed)

        func flipped(_ name: String, at offset: UInt64) throws -> Checker.Report {
            let copy = "\(dir)/\(name).img"
            try? FileManager.default.removeItem(atPath: copy)
            try? FileManager.default.removeItem(atPath: copy + ".root_hash.txt")
            try FileManager.default.copyItem(atPath: path, toPath: copy)
            try FileManager.default.copyItem(atPath: file, toPath: copy + ".root_hash.txt")
            let fd = open(copy, O_RDWR)
            XCTAssertGreaterThanOrEqual(fd, 0)
            var byte: UInt8 = 0
            XCTAssertEqual(pread(fd, &byte, 1, off_t(offset)), 1)
            byte ^= 0xff
            XCTAssertEqual(pwrite(fd, &byte, 1, off_t(offset)), 1)
            close(fd)
            return try Checker().check(copy)
        }
        // A byte in the middle of partition 1's data (the erofs is at its start), and one in
        // the hash tree: both caught.
        for (name, offset) in [("data", result.partitionOffset + result.filesystemBytes / 2 + 17), ("hash", hashOffset + 100)] {
            let report = try flipped(name, at: offset)
            XCTAssertFalse(report.passed, name)
            XCTAssertTrue(report.findings.contains { !$0.passed && $0.message.contains("dm-verity: partition 1 does not match root hash") }, report.rendered())
        }
        try FileManager.default.removeItem(atPath: "\(dir)/data.img.root_hash.txt")
        let missing = try Checker().check("\(dir)/data.img")
        XCTAssertTrue(missing.findings.contains { !$0.passed && $0.message.contains("no root hash file") }, missing.rendered())
    }

    /// A plain build after a measured one removes the stale root hash file.
    func testPlainBuildRemovesStaleRootHashFile() throws {
        try requireTools(.ext4, verity: true)
        let dir = try TestSupport.temporaryDirectory()
        let root = try rootfs(into: dir)
        _ = try image(root, .ext4, to: "\(dir)/a.img", verity: true)
        XCTAssertTrue(FileManager.default.fileExists(atPath: "\(dir)/a.img.root_hash.txt"))
        _ = try image(root, .ext4, to: "\(dir)/a.img")
        XCTAssertFalse(FileManager.default.fileExists(atPath: "\(dir)/a.img.root_hash.txt"))
        XCTAssertTrue(try Checker().check("\(dir)/a.img").passed)
    }

    /// mkfs.xfs 6.1 corrupts the next allocation group when a protofile file is larger than one
    /// (a debug agent is 90+ MB, the default groups of a 300 MB xfs are 75 MB): xfs_repair must
    /// still find the image clean.
    func testXFSWithAFileLargerThanADefaultAllocationGroup() throws {
        try requireTools(.xfs)
        let dir = try TestSupport.temporaryDirectory()
        let root = try rootfs(into: dir)
        let big = "\(root)/usr/bin/big"
        XCTAssertTrue(FileManager.default.createFile(atPath: big, contents: Data(repeating: 0x5a, count: 100 << 20)))
        let result = try image(root, .xfs, to: "\(dir)/big.img")
        XCTAssertGreaterThanOrEqual(result.partitionBytes / XFSFormatter.allocationGroups, 100 << 20)
        let report = try Checker().check("\(dir)/big.img")
        XCTAssertTrue(report.passed, report.rendered())
    }

    func testHashTreeSizeMatchesVeritysetup() throws {
        // veritysetup: 256 data blocks -> 3 hash blocks (2 leaves + root); 1 -> 1; 128 -> 1; 129 -> 3.
        XCTAssertEqual(VerityParameters.hashTreeBytes(dataBytes: 256 * 4096), 3 * 4096)
        XCTAssertEqual(VerityParameters.hashTreeBytes(dataBytes: 4096), 4096)
        XCTAssertEqual(VerityParameters.hashTreeBytes(dataBytes: 128 * 4096), 4096)
        XCTAssertEqual(VerityParameters.hashTreeBytes(dataBytes: 129 * 4096), 3 * 4096)
        XCTAssertEqual(VerityParameters.hashTreeBytes(dataBytes: 128 * 128 * 4096 + 4096), (129 + 2 + 1) * 4096)
    }

    func testMBRWithHashPartition() {
        var mbr = MBR(diskSignature: 7, startSector: 2048, sectorCount: 1000)
        mbr.second = MBR.Entry(startSector: 4096, sectorCount: 2048)
        let bytes = mbr.encoded()
        XCTAssertEqual(get32(bytes, 462 + 8), 4096)
        XCTAssertEqual(get32(bytes, 462 + 12), 2048)
        XCTAssertEqual(bytes[462 + 4], 0x83)
        XCTAssertEqual(MBR.decode(bytes), mbr)
    }

    func testRootHashFileRejectsMalformedFields() {
        let good = VerityParameters(rootHash: String(repeating: "ab", count: 32), salt: String(repeating: "01", count: 32), dataBlocks: 10)
        let text = good.rendered(image: "x.img", filesystem: .ext4, dax: false)
        XCTAssertEqual(try VerityParameters.parse(text, file: "f"), good)
        for (from, to) in [("Root hash:\t", "Root hash:\tzz"), ("Data blocks:\t10", "Data blocks:\t-1"), ("sha256\n", "md5\n"),
                           ("Data blocks:\t10", "Data blocks:\t18446744073709551615"), ("Data block size:\t4096", "Data block size:\t512")] {
            XCTAssertThrowsError(try VerityParameters.parse(text.replacingOccurrences(of: from, with: to), file: "f"), from)
        }
    }

    func testFilesystemDetection() {
        var head = [UInt8](repeating: 0, count: 4096)
        XCTAssertNil(FilesystemType.detect(head))
        head[1080] = 0x53; head[1081] = 0xef
        XCTAssertEqual(FilesystemType.detect(head), .ext4)
        head.replaceSubrange(0..<4, with: Array("XFSB".utf8))
        XCTAssertEqual(FilesystemType.detect(head), .xfs)
        var erofs = [UInt8](repeating: 0, count: 4096)
        erofs.replaceSubrange(1024..<1028, with: [0xe2, 0xe1, 0xf5, 0xe0])
        XCTAssertEqual(FilesystemType.detect(erofs), .erofs)
        // Sizes from crafted superblocks: nil, never an overflow trap.
        var xfs = [UInt8](repeating: 0xff, count: 4096)
        xfs.replaceSubrange(0..<4, with: Array("XFSB".utf8))
        XCTAssertNil(Checker.filesystemBytes(.xfs, head: xfs))
        var ext4 = [UInt8](repeating: 0xff, count: 4096)
        ext4.replaceSubrange(1024 + 24..<1024 + 28, with: [2, 0, 0, 0])
        XCTAssertNil(Checker.filesystemBytes(.ext4, head: ext4))
    }
}
