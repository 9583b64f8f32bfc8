import XCTest
@testable import OSBuilder

final class DiskHeaderTests: XCTestCase {
    func testMBRLayout() {
        let mbr = MBR(diskSignature: 0x1234_5678, startSector: 2048, sectorCount: 260_096)
        let bytes = mbr.encoded()
        XCTAssertEqual(bytes.count, 512)
        XCTAssertEqual(Array(bytes[440..<444]), [0x78, 0x56, 0x34, 0x12], "disk signature little-endian at 440")
        XCTAssertEqual(bytes[446], 0, "not bootable")
        XCTAssertEqual(bytes[446 + 4], 0x83, "Linux partition type")
        XCTAssertEqual(Array(bytes[454..<458]), [0x00, 0x08, 0x00, 0x00], "start LBA 2048 = 1 MiB")
        XCTAssertEqual(get32(bytes, 458), 260_096)
        XCTAssertEqual(Array(bytes[462..<510]), [UInt8](repeating: 0, count: 48), "only one partition")
        XCTAssertEqual(Array(bytes[510..<512]), [0x55, 0xaa])
        // CHS of LBA 2048 with 255 heads / 63 sectors: cylinder 0, head 32, sector 33.
        XCTAssertEqual(Array(bytes[447..<450]), [32, 33, 0])
        XCTAssertEqual(MBR.decode(bytes), mbr)
    }

    func testCHSSaturatesBeyond1024Cylinders() {
        XCTAssertEqual(MBR.chs(1024 * 255 * 63 + 5), [0xfe, 0xff, 0xff])
    }

    func testMBRDecodeRejectsMissingSignature() {
        XCTAssertNil(MBR.decode([UInt8](repeating: 0, count: 512)))
    }

    func testPFNHeaderFields() {
        let block = PFNHeader(dataOffset: 2 << 20, alignment: 2 << 20).encoded()
        XCTAssertEqual(block.count, 4096)
        XCTAssertEqual(Array(block[0..<16]), Array("NVDIMM_PFN_INFO\0".utf8))
        XCTAssertEqual(Array(block[16..<52]), [UInt8](repeating: 0, count: 36), "uuid, parent_uuid and flags zero")
        XCTAssertEqual(Array(block[52..<56]), [0, 0, 2, 0], "version 0.2")
        XCTAssertEqual(get64(block, 56), 2 << 20, "dataoff")
        XCTAssertEqual(get64(block, 64), 0, "npfns")
        XCTAssertEqual(get32(block, 72), 1, "PFN_MODE_RAM")
        XCTAssertEqual(get32(block, 76), 0, "start_pad")
        XCTAssertEqual(get32(block, 80), 0, "end_trunc")
        XCTAssertEqual(get32(block, 84), 2 << 20, "align")
        XCTAssertEqual(Array(block[88..<4088]), [UInt8](repeating: 0, count: 4000), "padding")
    }

    /// The checksum recomputed independently, the way the kernel's nd_fletcher64 does (u64 hi).
    func testPFNChecksumMatchesKernelAlgorithm() {
        var block = PFNHeader(dataOffset: 2 << 20, alignment: 2 << 20).encoded()
        let stored = get64(block, 4088)
        for index in 4088..<4096 { block[index] = 0 }
        var lo: UInt32 = 0
        var hi: UInt64 = 0
        for word in stride(from: 0, to: 4096, by: 4) {
            let value = UInt32(block[word]) | UInt32(block[word + 1]) << 8 | UInt32(block[word + 2]) << 16 | UInt32(block[word + 3]) << 24
            lo = lo &+ value
            hi = hi &+ UInt64(lo)
        }
        XCTAssertEqual(stored, hi << 32 | UInt64(lo))
        XCTAssertNotEqual(stored, 0)
    }

    func testPFNValidationDetectsCorruption() {
        var block = PFNHeader(dataOffset: 2 << 20, alignment: 2 << 20).encoded()
        XCTAssertTrue(PFNHeader.validate(block))
        XCTAssertEqual(PFNHeader.decode(block)?.dataOffset, 2 << 20)
        block[60] ^= 1
        XCTAssertFalse(PFNHeader.validate(block))
    }

    func testELFClassification() throws {
        let agent = try TestSupport.standInAgent()
        let data = try XCTUnwrap(FileManager.default.contents(atPath: agent))
        XCTAssertEqual(ELFLinkage.classify(data), .staticExecutable)
        if let dynamic = FileManager.default.contents(atPath: "/bin/ls") {
            guard case .dynamic(let interpreter) = ELFLinkage.classify(dynamic) else { return XCTFail("/bin/ls is dynamic") }
            XCTAssertTrue(interpreter.contains("ld-linux"), interpreter)
        }
        XCTAssertEqual(ELFLinkage.classify(Data("#!/bin/sh\n".utf8)), .notELF)
    }

    func testELFHeadersWithOffsetsNearIntMaxAreNotTrusted() {
        // A 64-bit little-endian ELF header whose program headers claim to start at Int64.max - 15.
        var header = [UInt8](repeating: 0, count: 64)
        header[0...5] = [0x7f, 0x45, 0x4c, 0x46, 2, 1]
        let phoff = UInt64(Int64.max - 15)
        for index in 0..<8 { header[32 + index] = UInt8(truncatingIfNeeded: phoff >> (8 * UInt64(index))) }
        header[54] = 56      // e_phentsize
        header[56] = 2       // e_phnum
        XCTAssertEqual(ELFLinkage.classify(Data(header)), .staticExecutable)
        // A PT_INTERP whose offset and size add past Int.max.
        var interp = header + [UInt8](repeating: 0, count: 56)
        for index in 0..<8 { interp[32 + index] = UInt8(truncatingIfNeeded: UInt64(64) >> (8 * UInt64(index))) }
        interp[56] = 1
        interp[64] = 3       // p_type = PT_INTERP
        for index in 0..<8 {
            interp[64 + 8 + index] = UInt8(truncatingIfNeeded: UInt64(Int64.max) >> (8 * UInt64(index)))   // p_offset
            interp[64 + 32 + index] = UInt8(truncatingIfNeeded: UInt64(16) >> (8 * UInt64(index)))         // p_filesz
        }
        XCTAssertEqual(ELFLinkage.classify(Data(interp)), .dynamic(interpreter: "?"))
    }

    func testOffsetsPastInt64MaxReadNothing() {
        XCTAssertNil(Checker().readBytes("/bin/sh", at: UInt64.max - 511, count: 512))
    }

    func testTreesClaimingMoreThanOneTebibyteAreRefused() throws {
        func file(_ name: String, _ size: UInt64) -> TreeEntry {
            TreeEntry(path: name, kind: .regular, permissions: 0o644, owner: .root, size: size, mtime: 0)
        }
        let small = FileTree(root: "/r", entries: [file("a", 1), file("b", 2)])
        XCTAssertEqual(try small.contentBytes(), 3)
        // Two sparse files of Int64.max bytes: a plain sum would overflow.
        let sparse = FileTree(root: "/r", entries: [file("a", 1), file("b", UInt64(Int64.max)), file("c", UInt64(Int64.max))])
        XCTAssertThrowsError(try sparse.contentBytes()) { error in
            XCTAssertTrue("\(error)".contains("/b"), "\(error)")
        }
    }

    func testSizeOptionsPastOneTebibyteAreRefused() throws {
        let rootfs = NSTemporaryDirectory() + "osb-size-\(getpid())"
        try FileManager.default.createDirectory(atPath: rootfs, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: rootfs) }
        var options = ImageOptions(rootfs: rootfs)
        options.freeSpaceMB = UInt64.max
        XCTAssertThrowsError(try ImageBuilder(options: options).build(output: rootfs + ".img")) { error in
            XCTAssertTrue("\(error)".contains("--free-space"), "\(error)")
        }
        options.freeSpaceMB = 0
        options.alignmentMB = UInt64.max / 2
        XCTAssertThrowsError(try ImageBuilder(options: options).build(output: rootfs + ".img")) { error in
            XCTAssertTrue("\(error)".contains("IMAGE_SIZE_ALIGNMENT_MB"), "\(error)")
        }
    }
}
