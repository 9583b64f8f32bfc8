import Foundation
import XCTest

@testable import Sandbox

final class GuestFileCopyTests: XCTestCase {
    private var root = ""
    private var copier: GuestFileCopy { GuestFileCopy(root: root) }

    override func setUpWithError() throws {
        root = try makeTemporaryDirectory(for: self, "copyfile")
    }

    private func request(
        _ path: String, data: String = "", fileSize: Int64? = nil, mode: UInt32 = 0o100644, dirMode: UInt32 = 0o750,
        offset: Int64 = 0
    ) -> GuestFileCopy.Request {
        GuestFileCopy.Request(
            path: path, fileSize: fileSize ?? Int64(data.utf8.count), fileMode: mode, dirMode: dirMode,
            uid: Int32(bitPattern: getuid()), gid: Int32(bitPattern: getgid()), offset: offset, data: Array(data.utf8))
    }

    private func mode(_ path: String) throws -> Int {
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        return (attributes[.posixPermissions] as? Int) ?? -1
    }

    private func assertInvalid(_ req: GuestFileCopy.Request, field: String, _ fragment: String, line: UInt = #line) {
        XCTAssertThrowsError(try copier.copy(req), line: line) { error in
            guard let error = error as? GuestOperationError else { return XCTFail("\(error)", line: line) }
            XCTAssertEqual(error.kind, .invalidArgument(field: field), "\(error)", line: line)
            XCTAssertTrue(error.description.contains(fragment), "\(error)", line: line)
        }
    }

    func testSingleChunkFileWithParentsAndModes() throws {
        let outcome = try copier.copy(request(root + "/a/b/file.txt", data: "hello", mode: 0o100640, dirMode: 0o711))
        XCTAssertEqual(outcome, .complete)
        XCTAssertEqual(try readFile(root + "/a/b/file.txt"), "hello")
        XCTAssertEqual(try mode(root + "/a/b/file.txt"), 0o640)
        XCTAssertEqual(try mode(root + "/a"), 0o711)
        XCTAssertEqual(try mode(root + "/a/b"), 0o711)
        // No temporary file is left behind.
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: root + "/a/b"), ["file.txt"])
    }

    func testChunkedFileAppearsOnlyWhenComplete() throws {
        let path = root + "/chunked"
        XCTAssertEqual(try copier.copy(request(path, data: "abc", fileSize: 6, offset: 0)), .partial(bytesStored: 3))
        XCTAssertFalse(FileManager.default.fileExists(atPath: path))
        XCTAssertEqual(try copier.copy(request(path, data: "def", fileSize: 6, offset: 3)), .complete)
        XCTAssertEqual(try readFile(path), "abcdef")
    }

    func testReplacesExistingFileAndEmptyDirectory() throws {
        try writeFile(root + "/f", "old")
        XCTAssertEqual(try copier.copy(request(root + "/f", data: "new")), .complete)
        XCTAssertEqual(try readFile(root + "/f"), "new")
        try FileManager.default.createDirectory(atPath: root + "/d", withIntermediateDirectories: false)
        XCTAssertEqual(try copier.copy(request(root + "/d", data: "file now")), .complete)
        XCTAssertEqual(try readFile(root + "/d"), "file now")
    }

    func testEmptyFile() throws {
        XCTAssertEqual(try copier.copy(request(root + "/empty", data: "", fileSize: 0)), .complete)
        XCTAssertEqual(try readFile(root + "/empty"), "")
    }

    func testDirectory() throws {
        XCTAssertEqual(try copier.copy(request(root + "/dir/sub", mode: 0o040700)), .complete)
        var isDirectory: ObjCBool = false
        XCTAssertTrue(FileManager.default.fileExists(atPath: root + "/dir/sub", isDirectory: &isDirectory))
        XCTAssertTrue(isDirectory.boolValue)
        XCTAssertEqual(try mode(root + "/dir/sub"), 0o700)
        // An existing directory is kept, with its contents, and takes the new mode.
        try writeFile(root + "/dir/sub/keep", "x")
        XCTAssertEqual(try copier.copy(request(root + "/dir/sub", mode: 0o040755)), .complete)
        XCTAssertEqual(try readFile(root + "/dir/sub/keep"), "x")
        XCTAssertEqual(try mode(root + "/dir/sub"), 0o755)
    }

    func testSymlinkIsCreatedNotFollowed() throws {
        XCTAssertEqual(try copier.copy(request(root + "/link", data: "/etc/passwd", mode: 0o120777)), .complete)
        XCTAssertEqual(try FileManager.default.destinationOfSymbolicLink(atPath: root + "/link"), "/etc/passwd")
        // Writing a file where the link is replaces the link, never writes through it.
        XCTAssertEqual(try copier.copy(request(root + "/link", data: "mine")), .complete)
        XCTAssertEqual(try readFile(root + "/link"), "mine")
        XCTAssertThrowsError(try FileManager.default.destinationOfSymbolicLink(atPath: root + "/link"))
    }

    func testFollowsSymlinksThatStayInside() throws {
        try FileManager.default.createDirectory(atPath: root + "/real", withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: root + "/alias", withDestinationPath: "real")
        try FileManager.default.createSymbolicLink(atPath: root + "/absolute", withDestinationPath: root + "/real")
        XCTAssertEqual(try copier.copy(request(root + "/alias/f", data: "1")), .complete)
        XCTAssertEqual(try copier.copy(request(root + "/absolute/g", data: "2")), .complete)
        XCTAssertEqual(try readFile(root + "/real/f"), "1")
        XCTAssertEqual(try readFile(root + "/real/g"), "2")
    }

    func testRefusesSymlinksEscapingTheRoot() throws {
        let outside = try makeTemporaryDirectory(for: self, "outside")
        try FileManager.default.createSymbolicLink(atPath: root + "/out-abs", withDestinationPath: outside)
        try FileManager.default.createSymbolicLink(atPath: root + "/out-rel", withDestinationPath: "../" + (outside as NSString).lastPathComponent)
        try FileManager.default.createDirectory(atPath: root + "/d", withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: root + "/d/up", withDestinationPath: "../..")
        assertInvalid(request(root + "/out-abs/x", data: "x"), field: "path", "leaves")
        assertInvalid(request(root + "/out-rel/x", data: "x"), field: "path", "climbs above")
        assertInvalid(request(root + "/d/up/x", data: "x"), field: "path", "climbs above")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: outside), [])
    }

    func testSymlinkLoopIsAnError() throws {
        try FileManager.default.createSymbolicLink(atPath: root + "/loop", withDestinationPath: "loop")
        XCTAssertThrowsError(try copier.copy(request(root + "/loop/x", data: "x"))) { error in
            XCTAssertEqual((error as? GuestOperationError)?.errno, ELOOP, "\(error)")
        }
    }

    func testRejectsBadPaths() {
        assertInvalid(request("relative/x", data: "x"), field: "path", "not absolute")
        assertInvalid(request(root + "/../x", data: "x"), field: "path", "not canonical")
        assertInvalid(request(root + "//x", data: "x"), field: "path", "not canonical")
        assertInvalid(request(root + "/x/", data: "x"), field: "path", "not canonical")
        assertInvalid(request("/etc/passwd", data: "x"), field: "path", "not below")
        assertInvalid(request(root, data: "x"), field: "path", "not below")
        assertInvalid(request(root + "-sibling/x", data: "x"), field: "path", "not below")
    }

    func testRejectsBadSizesAndTypes() {
        assertInvalid(request(root + "/f", data: "abc", fileSize: 2), field: "offset", "past file_size")
        assertInvalid(request(root + "/f", data: "abc", fileSize: 10, offset: -1), field: "offset", "negative")
        assertInvalid(request(root + "/f", data: "", fileSize: -1), field: "file_size", "negative")
        assertInvalid(request(root + "/f", data: "x", fileSize: 1, offset: Int64.max), field: "offset", "past file_size")
        assertInvalid(request(root + "/fifo", mode: 0o010644), field: "file_mode", "file type")
        assertInvalid(request(root + "/l", data: "", mode: 0o120777), field: "data", "symlink target")
    }

    func testOwnerIsApplied() throws {
        try requireRoot("chown to another uid")
        var req = request(root + "/owned/file", data: "x")
        req.uid = 1234
        req.gid = 4321
        XCTAssertEqual(try copier.copy(req), .complete)
        for path in [root + "/owned/file", root + "/owned"] {
            let attributes = try FileManager.default.attributesOfItem(atPath: path)
            XCTAssertEqual(attributes[.ownerAccountID] as? Int, 1234, path)
            XCTAssertEqual(attributes[.groupOwnerAccountID] as? Int, 4321, path)
        }
    }

    func testLongNameUsesHashedTemporary() throws {
        let name = String(repeating: "n", count: 250)
        XCTAssertEqual(try copier.copy(request(root + "/" + name, data: "ab", fileSize: 4)), .partial(bytesStored: 2))
        XCTAssertEqual(try copier.copy(request(root + "/" + name, data: "cd", fileSize: 4, offset: 2)), .complete)
        XCTAssertEqual(try readFile(root + "/" + name), "abcd")
    }
}
