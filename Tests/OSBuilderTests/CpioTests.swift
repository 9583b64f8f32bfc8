import Foundation
import XCTest
@testable import OSBuilder

final class CpioTests: XCTestCase {
    /// A small tree with a file, an executable, a symlink, an empty file and a nested dir.
    func makeTree() throws -> String {
        let root = try TestSupport.temporaryDirectory()
        let fm = FileManager.default
        try fm.createDirectory(atPath: "\(root)/etc/deep", withIntermediateDirectories: true)
        try fm.createDirectory(atPath: "\(root)/sbin", withIntermediateDirectories: true)
        XCTAssertTrue(fm.createFile(atPath: "\(root)/etc/hostname", contents: Data("kata\n".utf8)))
        XCTAssertTrue(fm.createFile(atPath: "\(root)/etc/deep/empty", contents: Data()))
        XCTAssertTrue(fm.createFile(atPath: "\(root)/sbin/init", contents: Data((0..<1001).map { UInt8($0 % 251) })))
        chmod("\(root)/sbin/init", 0o755)
        try fm.createSymbolicLink(atPath: "\(root)/init", withDestinationPath: "/sbin/init")
        return root
    }

    func archive(_ root: String, attributes: TreeAttributes = TreeAttributes(), epoch: Int64? = 1_000_000) throws -> Data {
        let tree = try FileTree.scan(root: root, attributes: attributes, epoch: epoch)
        var data = Data()
        let writer = CpioWriter { data.append($0) }
        try writer.append(tree: tree)
        try writer.finish()
        return data
    }

    func testRoundTripThroughOwnReader() throws {
        let root = try makeTree()
        let members = try CpioReader.read(try archive(root))
        XCTAssertEqual(members.map(\.name), [".", "etc", "etc/deep", "etc/deep/empty", "etc/hostname", "init", "sbin", "sbin/init"])
        let byName = Dictionary(uniqueKeysWithValues: members.map { ($0.name, $0) })
        XCTAssertEqual(byName["etc/hostname"]?.contents, Data("kata\n".utf8))
        XCTAssertEqual(byName["init"]?.contents, Data("/sbin/init".utf8))
        XCTAssertEqual(byName["init"].map { $0.header.mode & 0o170000 }, 0o120000)
        XCTAssertEqual(byName["sbin/init"].map { $0.header.mode & 0o7777 }, 0o755)
        XCTAssertEqual(byName["sbin/init"]?.contents.count, 1001)
        for member in members {
            XCTAssertEqual(member.header.uid, 0, member.name)
            XCTAssertEqual(member.header.gid, 0, member.name)
            XCTAssertLessThanOrEqual(member.header.mtime, 1_000_000, "mtime clamped: \(member.name)")
        }
        // Deterministic inode numbers: 1...n in path order.
        XCTAssertEqual(members.map(\.header.inode), Array(1...UInt32(members.count)))
        // Directory link count: 2 + subdirectories ("." has etc and sbin).
        XCTAssertEqual(byName["."]?.header.nlink, 4)
        XCTAssertEqual(byName["etc"]?.header.nlink, 3)
    }

    /// The kernel's unpacker (init/initramfs.c) requires: "070701" magic, 110-byte header,
    /// NUL-terminated name, header+name and data each padded to a multiple of 4, and a trailer.
    func testKernelFormatRules() throws {
        let bytes = [UInt8](try archive(try makeTree()))
        var offset = 0
        var names: [String] = []
        while true {
            XCTAssertEqual(offset % 4, 0, "every header starts 4-byte aligned")
            XCTAssertEqual(String(decoding: bytes[offset..<offset + 6], as: UTF8.self), "070701")
            let field = { (index: Int) -> Int in
                Int(String(decoding: bytes[offset + 6 + index * 8..<offset + 14 + index * 8], as: UTF8.self), radix: 16) ?? -1
            }
            let nameSize = field(11), fileSize = field(6)
            XCTAssertEqual(field(12), 0, "check field is zero in newc")
            XCTAssertEqual(bytes[offset + 110 + nameSize - 1], 0, "name is NUL-terminated")
            let name = String(decoding: bytes[offset + 110..<offset + 110 + nameSize - 1], as: UTF8.self)
            names.append(name)
            var next = offset + 110 + nameSize
            next += (4 - next % 4) % 4
            next += fileSize
            next += (4 - next % 4) % 4
            offset = next
            if name == "TRAILER!!!" { break }
        }
        XCTAssertEqual(offset, bytes.count, "nothing after the trailer")
        XCTAssertEqual(names.first, ".")
    }

    func testGNUCpioListsAndExtractsIt() throws {
        try TestSupport.requireTool("/usr/bin/cpio")
        let root = try makeTree()
        let data = try archive(root)
        let (status, listing, stderr) = try TestSupport.run("/usr/bin/cpio", ["-t", "--quiet"], stdin: data)
        XCTAssertEqual(status, 0, stderr)
        XCTAssertEqual(String(decoding: listing, as: UTF8.self).split(separator: "\n"),
                       [".", "etc", "etc/deep", "etc/deep/empty", "etc/hostname", "init", "sbin", "sbin/init"])
        let out = try TestSupport.temporaryDirectory()
        let (extract, _, err2) = try TestSupport.run("/usr/bin/cpio", ["-i", "-d", "--quiet", "--no-absolute-filenames"], stdin: data, cwd: out)
        XCTAssertEqual(extract, 0, err2)
        XCTAssertEqual(FileManager.default.contents(atPath: "\(out)/sbin/init"), FileManager.default.contents(atPath: "\(root)/sbin/init"))
        XCTAssertEqual(try FileManager.default.destinationOfSymbolicLink(atPath: "\(out)/init"), "/sbin/init")
        var st = stat()
        XCTAssertEqual(stat("\(out)/sbin/init", &st), 0)
        XCTAssertEqual(UInt32(st.st_mode) & 0o7777, 0o755)
    }

    func testAttributesSetOwnersAndAddDevices() throws {
        let root = try makeTree()
        var attributes = TreeAttributes()
        attributes.ownerOverrides["/etc/hostname"] = Template.Owner(uid: 42, gid: 43)
        attributes.devices["/dev/console"] = TreeAttributes.Device(kind: .character, major: 5, minor: 1, mode: 0o600)
        let members = try CpioReader.read(try archive(root, attributes: attributes))
        let byName = Dictionary(uniqueKeysWithValues: members.map { ($0.name, $0) })
        XCTAssertEqual(byName["etc/hostname"]?.header.uid, 42)
        XCTAssertEqual(byName["etc/hostname"]?.header.gid, 43)
        let console = try XCTUnwrap(byName["dev/console"])
        XCTAssertEqual(console.header.mode, 0o020600)
        XCTAssertEqual(console.header.rdevMajor, 5)
        XCTAssertEqual(console.header.rdevMinor, 1)
    }

    func testReaderRejectsGarbage() {
        XCTAssertThrowsError(try CpioReader.read(Data("not a cpio archive at all, definitely not".utf8)))
        XCTAssertThrowsError(try CpioReader.read(Data()))
    }
}
