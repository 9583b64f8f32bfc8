import Foundation
import XCTest
@testable import OSBuilder

/// Builds each small template's rootfs, initrd and image and inspects them with independent
/// tools (GNU cpio, debugfs, e2fsck, a loop mount as root).
final class BuildTests: XCTestCase {
    static let epoch: Int64 = 1_700_000_000

    func rootfs(_ template: String, agent: String? = nil, into dir: String, configure: (inout RootfsOptions) throws -> Void = { _ in }) throws -> String {
        var options = RootfsOptions(template: try TestSupport.templates.load(template))
        options.agentBinary = try agent ?? TestSupport.standInAgent()
        options.sourceDateEpoch = Self.epoch
        try configure(&options)
        let path = "\(dir)/rootfs-\(template)"
        try RootfsBuilder(options: options, progress: BuildProgress(quiet: true)).build(into: path)
        return path
    }

    func initrd(_ rootfs: String, to path: String, compression: Compression = .gzip) throws {
        try InitrdBuilder(rootfs: rootfs, compression: compression, sourceDateEpoch: Self.epoch, progress: BuildProgress(quiet: true)).build(output: path)
    }

    func image(_ rootfs: String, to path: String, dax: Bool = true, alignment: UInt64 = 128) throws -> ImageBuilder.Result {
        var options = ImageOptions(rootfs: rootfs)
        options.dax = dax
        options.alignmentMB = alignment
        options.sourceDateEpoch = Self.epoch
        return try ImageBuilder(options: options, progress: BuildProgress(quiet: true)).build(output: path)
    }

    func testMinimalRootfsHasExactlyTheExpectedEntries() throws {
        let dir = try TestSupport.temporaryDirectory()
        let root = try rootfs("minimal", into: dir)
        let tree = try FileTree.scan(root: root, attributes: try TreeAttributes.load(rootfs: root), epoch: Self.epoch)
        XCTAssertEqual(tree.entries.map(\.path), [
            "", "dev", "etc", "etc/hostname", "etc/machine-id", "etc/resolv.conf", "init", "lib", "lib/modules", "mnt",
            "proc", "root", "run", "sbin", "sbin/init", "sys", "tmp", "usr", "usr/bin", "var", "var/lib", "var/lib/osbuilder",
            "var/lib/osbuilder/attributes", "var/lib/osbuilder/osbuilder.yaml",
        ])
        let byPath = Dictionary(uniqueKeysWithValues: tree.entries.map { ($0.path, $0) })
        XCTAssertEqual(byPath["etc/resolv.conf"]?.size, 0)
        XCTAssertEqual(byPath["etc/resolv.conf"]?.kind, .regular)
        XCTAssertEqual(byPath["etc/machine-id"]?.size, 0)
        XCTAssertEqual(byPath["tmp"]?.permissions, 0o1777)
        XCTAssertEqual(byPath["init"]?.linkTarget, "/sbin/init")
        XCTAssertEqual(byPath["sbin/init"]?.permissions, 0o755)
        let summary = String(decoding: FileManager.default.contents(atPath: "\(root)/\(Summary.relativePath)") ?? Data(), as: UTF8.self)
        XCTAssertTrue(summary.contains("file-format-version: \"0.0.2\""), summary)
        XCTAssertTrue(summary.contains("agent-is-init-daemon: \"yes\""), summary)
        XCTAssertTrue(summary.contains("rootfs-creation-time: \"2023-11-14T22:13:20.000000000+0000Z\""), summary)
        XCTAssertTrue(try Checker().check(root).passed)
    }

    func testBusyboxInitrdListsWithCpioAndPassesCheck() throws {
        try TestSupport.requireTool("/usr/bin/cpio")
        let dir = try TestSupport.temporaryDirectory()
        let root = try rootfs("busybox", into: dir)
        try initrd(root, to: "\(dir)/initrd.gz")
        let data = try Compression.readDecompressed("\(dir)/initrd.gz")
        let (status, listing, stderr) = try TestSupport.run("/usr/bin/cpio", ["-t", "-v", "--quiet", "--numeric-uid-gid"], stdin: data)
        XCTAssertEqual(status, 0, stderr)
        let lines = String(decoding: listing, as: UTF8.self).split(separator: "\n").map(String.init)
        XCTAssertTrue(lines.contains { $0.hasSuffix(" init -> /sbin/init") }, "has /init")
        XCTAssertTrue(lines.contains { $0.hasSuffix(" bin/sh -> /bin/busybox") }, "has applet links")
        XCTAssertTrue(lines.allSatisfy { $0.split(separator: " ", omittingEmptySubsequences: true)[2...3] == ["0", "0"] }, "all 0:0")
        let report = try Checker().check("\(dir)/initrd.gz")
        XCTAssertTrue(report.passed, report.rendered())
    }

    func testZstdInitrd() throws {
        try TestSupport.requireTool("/usr/bin/zstd")
        let dir = try TestSupport.temporaryDirectory()
        try initrd(try rootfs("minimal", into: dir), to: "\(dir)/initrd.zst", compression: .zstd)
        XCTAssertEqual(Compression.detect(FileManager.default.contents(atPath: "\(dir)/initrd.zst") ?? Data()), .zstd)
        XCTAssertTrue(try Checker().check("\(dir)/initrd.zst").passed)
    }

    func testImageLayoutDebugfsAndFsck() throws {
        let dir = try TestSupport.temporaryDirectory()
        let root = try rootfs("busybox", into: dir)
        let result = try image(root, to: "\(dir)/dax.img")
        XCTAssertEqual(result.totalBytes % (128 << 20), 0, "aligned to 128 MiB")
        XCTAssertEqual(result.partitionOffset, 3 << 20)
        let head = [UInt8](try XCTUnwrap(FileHandle(forReadingAtPath: "\(dir)/dax.img")?.read(upToCount: (2 << 20) + 512)))
        let first = try XCTUnwrap(MBR.decode(Array(head[0..<512])))
        XCTAssertEqual(first.startSector, 6144, "MBR #1: partition at 3 MiB")
        XCTAssertTrue(PFNHeader.validate(Array(head[4096..<8192])))
        let second = try XCTUnwrap(MBR.decode(Array(head[(2 << 20)..<(2 << 20) + 512])))
        XCTAssertEqual(second.startSector, 2048, "MBR #2: 1 MiB after the 2 MiB header")
        XCTAssertEqual(second.sectorCount, first.sectorCount)
        XCTAssertEqual(UInt64(first.startSector + first.sectorCount) * 512, result.totalBytes, "partition runs to the end")
        let spec = "\(dir)/dax.img?offset=\(3 << 20)"
        let (fsck, out, err) = try TestSupport.run("/sbin/e2fsck", ["-f", "-n", spec])
        XCTAssertEqual(fsck, 0, String(decoding: out, as: UTF8.self) + err)
        let (_, stat, _) = try TestSupport.run("/sbin/debugfs", ["-R", "stat /sbin/init", spec])
        let text = String(decoding: stat, as: UTF8.self)
        XCTAssertTrue(text.contains("User:     0   Group:     0"), text)
        XCTAssertTrue(text.contains("mtime: 0x6553f100"), "mtime clamped to SOURCE_DATE_EPOCH: \(text)")
        let (_, stats, _) = try TestSupport.run("/sbin/debugfs", ["-R", "stats", spec])
        let statsText = String(decoding: stats, as: UTF8.self)
        XCTAssertTrue(statsText.contains("Block size:               4096"), statsText)
        XCTAssertTrue(statsText.contains("Filesystem UUID:          \(result.filesystemUUID)"), statsText)
        let report = try Checker().check("\(dir)/dax.img")
        XCTAssertTrue(report.passed, report.rendered())

        let plain = try image(root, to: "\(dir)/plain.img", dax: false, alignment: 1)
        XCTAssertEqual(plain.partitionOffset, 1 << 20)
        XCTAssertLessThan(plain.totalBytes, 32 << 20, "alignment 1 gives a small image")
        XCTAssertEqual(plain.totalBytes % (1 << 20), 0)
        XCTAssertTrue(try Checker().check("\(dir)/plain.img").passed)
    }

    /// A DAX image is an NVDIMM namespace: whatever the requested alignment and free space,
    /// its size stays a whole number of 2 MiB (the kernel's nd_pfn refuses anything else);
    /// without DAX, alignment 1 keeps odd sizes possible.
    func testDaxImageSizeIsAlwaysWholeTwoMiB() throws {
        let dir = try TestSupport.temporaryDirectory()
        let root = try rootfs("minimal", into: dir)
        var plainSizes: Set<UInt64> = []
        for free in [UInt64(1), 2] {
            var options = ImageOptions(rootfs: root)
            options.alignmentMB = 1
            options.freeSpaceMB = free
            options.sourceDateEpoch = Self.epoch
            let dax = try ImageBuilder(options: options, progress: BuildProgress(quiet: true)).build(output: "\(dir)/dax\(free).img")
            XCTAssertEqual(dax.totalBytes % (2 << 20), 0, "free space \(free) MiB: \(dax.totalBytes) bytes")
            options.dax = false
            let plain = try ImageBuilder(options: options, progress: BuildProgress(quiet: true)).build(output: "\(dir)/plain\(free).img")
            plainSizes.insert(plain.totalBytes / (1 << 20) % 2)
        }
        XCTAssertEqual(plainSizes, [0, 1], "one more MiB of free space flips the parity of a plain image")
    }

    /// Same inputs, different directories, different file times: byte-identical outputs.
    func testReproducibleAcrossDirectoriesAndTimes() throws {
        let agent = try TestSupport.standInAgent()
        var outputs: [[Data]] = []
        for round in 0..<2 {
            let dir = try TestSupport.temporaryDirectory("repro\(round)")
            let copy = "\(dir)/agent-copy"
            try FileManager.default.copyItem(atPath: agent, toPath: copy)
            // Different on-disk mtimes, both newer than SOURCE_DATE_EPOCH: clamping must hide them.
            var times = [timespec(tv_sec: Int(Self.epoch) + 1000 * (round + 1), tv_nsec: 0), timespec(tv_sec: Int(Self.epoch) + 1000 * (round + 1), tv_nsec: 0)]
            XCTAssertEqual(utimensat(AT_FDCWD, copy, &times, 0), 0)
            let root = try rootfs("busybox", agent: copy, into: dir)
            try initrd(root, to: "\(dir)/initrd.gz")
            _ = try image(root, to: "\(dir)/image.img")
            outputs.append(try ["\(dir)/initrd.gz", "\(dir)/image.img"].map { try XCTUnwrap(FileManager.default.contents(atPath: $0)) })
        }
        XCTAssertEqual(outputs[0][0], outputs[1][0], "initrd identical")
        XCTAssertEqual(outputs[0][1], outputs[1][1], "image identical")
    }

    /// Files on disk owned by someone else still come out 0:0 (mkfs -d copies on-disk owners;
    /// the debugfs pass and the cpio writer override them).
    func testForeignOwnersBecomeRoot() throws {
        guard TestSupport.isRoot else { throw XCTSkip("needs root to chown the staged tree") }
        let dir = try TestSupport.temporaryDirectory()
        let root = try rootfs("minimal", into: dir)
        let (status, _, err) = try TestSupport.run("/bin/chown", ["-R", "-h", "1234:5678", root])
        XCTAssertEqual(status, 0, err)
        try initrd(root, to: "\(dir)/initrd.gz")
        let members = try CpioReader.read(try Compression.readDecompressed("\(dir)/initrd.gz"))
        XCTAssertTrue(members.allSatisfy { $0.header.uid == 0 && $0.header.gid == 0 })
        _ = try image(root, to: "\(dir)/image.img", alignment: 1)
        let (_, listing, _) = try TestSupport.run("/sbin/debugfs", ["-R", "ls -l /etc", "\(dir)/image.img?offset=\(3 << 20)"])
        let text = String(decoding: listing, as: UTF8.self)
        XCTAssertFalse(text.contains("1234"), text)
        XCTAssertTrue(text.contains("hostname"), text)
    }

    /// As root: loop-mount the image read-only and compare the tree with the rootfs.
    func testLoopMountedImageMatchesRootfs() throws {
        guard TestSupport.isRoot else { throw XCTSkip("loop mounting needs root") }
        let dir = try TestSupport.temporaryDirectory()
        let root = try rootfs("busybox", into: dir)
        _ = try image(root, to: "\(dir)/image.img")
        let mnt = "\(dir)/mnt"
        try FileManager.default.createDirectory(atPath: mnt, withIntermediateDirectories: true)
        let (status, _, err) = try TestSupport.run("/bin/mount", ["-o", "loop,ro,offset=\(3 << 20)", "-t", "ext4", "\(dir)/image.img", mnt])
        guard status == 0 else { throw XCTSkip("loop mount unavailable here: \(err)") }
        defer { _ = try? TestSupport.run("/bin/umount", [mnt]) }
        let source = try FileTree.scan(root: root, attributes: try TreeAttributes.load(rootfs: root), epoch: Self.epoch)
        let mounted = try FileTree.scan(root: mnt, attributes: TreeAttributes(owners: .preserve), epoch: nil)
        let mountedEntries = mounted.entries.filter { $0.path != "lost+found" }
        XCTAssertEqual(mountedEntries.map(\.path), source.entries.map(\.path))
        for (a, b) in zip(source.entries, mountedEntries) {
            XCTAssertEqual(a.mode, b.mode, a.path)
            XCTAssertEqual(a.owner, b.owner, a.path)
            XCTAssertEqual(a.mtime, b.mtime, a.path)
            XCTAssertEqual(a.linkTarget, b.linkTarget, a.path)
            if a.kind == .regular {
                XCTAssertEqual(FileManager.default.contents(atPath: "\(root)/\(a.path)"), FileManager.default.contents(atPath: "\(mnt)/\(b.path)"), a.path)
            }
        }
    }

    func testExtraFilesDevicesAndAgentServiceMode() throws {
        let dir = try TestSupport.temporaryDirectory()
        let extra = "\(dir)/tool"
        XCTAssertTrue(FileManager.default.createFile(atPath: extra, contents: Data("#!/bin/sh\n".utf8)))
        chmod(extra, 0o700)
        let root = try rootfs("busybox", into: dir) { options in
            options.extraFiles = [RootfsOptions.ExtraFile(source: extra, destination: "/usr/bin/kata-agent-ctl"),
                                  try RootfsOptions.ExtraFile.parse("\(extra):/opt/x:0644")]
            options.agentInit = false
        }
        var st = stat()
        XCTAssertEqual(stat("\(root)/usr/bin/kata-agent-ctl", &st), 0)
        XCTAssertEqual(UInt32(st.st_mode) & 0o7777, 0o700)
        XCTAssertEqual(stat("\(root)/opt/x", &st), 0)
        XCTAssertEqual(UInt32(st.st_mode) & 0o7777, 0o644)
        XCTAssertTrue(FileManager.default.fileExists(atPath: "\(root)/usr/bin/kata-agent"), "AGENT_INIT=no puts the agent at /usr/bin/kata-agent")
        // A template device node reaches the initrd and the image without mknod on the host.
        var attributes = try TreeAttributes.load(rootfs: root)
        attributes.devices["/dev/console"] = TreeAttributes.Device(kind: .character, major: 5, minor: 1, mode: 0o600)
        try attributes.serialized().write(toFile: "\(root)/\(TreeAttributes.relativePath)", atomically: true, encoding: .utf8)
        try initrd(root, to: "\(dir)/i.gz")
        let console = try CpioReader.read(try Compression.readDecompressed("\(dir)/i.gz")).first { $0.name == "dev/console" }
        XCTAssertEqual(console?.header.mode, 0o020600)
        _ = try image(root, to: "\(dir)/i.img", alignment: 1)
        let (_, out, _) = try TestSupport.run("/sbin/debugfs", ["-R", "stat /dev/console", "\(dir)/i.img?offset=\(3 << 20)"])
        let text = String(decoding: out, as: UTF8.self)
        XCTAssertTrue(text.contains("character special") || text.contains("Type: character"), text)
        XCTAssertTrue(text.contains("Mode:  0600"), text)
    }

    func testFailuresLeaveNothingBehind() throws {
        let dir = try TestSupport.temporaryDirectory()
        var options = RootfsOptions(template: try TestSupport.templates.load("minimal"))
        options.agentBinary = "\(dir)/no-such-agent"
        XCTAssertThrowsError(try RootfsBuilder(options: options, progress: BuildProgress(quiet: true)).build(into: "\(dir)/rootfs")) {
            XCTAssertTrue("\($0)".contains("no-such-agent"), "\($0)")
        }
        options.agentBinary = nil
        XCTAssertThrowsError(try RootfsBuilder(options: options).build(into: "\(dir)/rootfs")) { XCTAssertTrue("\($0)".contains("no agent binary"), "\($0)") }
        options.agentBinary = try TestSupport.standInAgent()
        options.extraPackages = ["vim"]
        XCTAssertThrowsError(try RootfsBuilder(options: options).build(into: "\(dir)/rootfs")) { XCTAssertTrue("\($0)".contains("EXTRA_PKGS"), "\($0)") }
        options.extraPackages = []
        options.modules = ["virtio_blk"]
        XCTAssertThrowsError(try RootfsBuilder(options: options).build(into: "\(dir)/rootfs")) { XCTAssertTrue("\($0)".contains("--kernel-modules-dir"), "\($0)") }
        // A rootfs without /init cannot become an initrd.
        try FileManager.default.createDirectory(atPath: "\(dir)/noinit/etc", withIntermediateDirectories: true)
        XCTAssertThrowsError(try initrd("\(dir)/noinit", to: "\(dir)/out.gz")) { XCTAssertTrue("\($0)".contains("no /init"), "\($0)") }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir).sorted(), ["noinit"], "no partial outputs")
    }

    func testCheckReportsProblems() throws {
        let dir = try TestSupport.temporaryDirectory()
        let root = try rootfs("minimal", into: dir)
        try FileManager.default.removeItem(atPath: "\(root)/etc/resolv.conf")
        try FileManager.default.removeItem(atPath: "\(root)/proc")
        try FileManager.default.removeItem(atPath: "\(root)/sbin/init")
        try FileManager.default.copyItem(atPath: "/bin/ls", toPath: "\(root)/sbin/init")
        let report = try Checker().check(root)
        XCTAssertFalse(report.passed)
        let failures = report.findings.filter { !$0.passed }.map(\.message).joined(separator: "\n")
        XCTAssertTrue(failures.contains("/etc/resolv.conf"), failures)
        XCTAssertTrue(failures.contains("/proc"), failures)
        XCTAssertTrue(failures.contains("dynamically linked"), failures)
    }
}
