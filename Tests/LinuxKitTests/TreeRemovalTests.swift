import Foundation
import Glibc
import XCTest
@testable import LinuxKit

/// rm -rf of a tree a container wrote: no symlink followed, no mount crossed, any depth.
final class TreeRemovalTests: XCTestCase {
    var base = ""

    override func setUpWithError() throws {
        base = NSTemporaryDirectory() + "tree-removal-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
    }

    override func tearDown() {
        _ = umount2(base + "/tree/mounted", Int32(MNT_DETACH))
        try? FileManager.default.removeItem(atPath: base)
    }

    func testRemovesATreeWithoutFollowingSymlinks() throws {
        let outside = base + "/outside"
        try FileManager.default.createDirectory(atPath: outside, withIntermediateDirectories: true)
        try Data("keep".utf8).write(to: URL(fileURLWithPath: outside + "/kept"))
        let tree = base + "/tree"
        try FileManager.default.createDirectory(atPath: tree + "/upper/etc", withIntermediateDirectories: true)
        try Data("x".utf8).write(to: URL(fileURLWithPath: tree + "/upper/etc/file"))
        XCTAssertEqual(symlink(outside, tree + "/upper/escape"), 0)
        XCTAssertEqual(symlink(outside + "/kept", tree + "/upper/etc/kept-link"), 0)
        // A name that is not UTF-8 (a container's names are bytes).
        let name: [CChar] = (tree + "/upper/").utf8CString.dropLast() + [CChar(bitPattern: 0xFF), CChar(bitPattern: 0xFE), 0]
        let fd = open(name, O_CREAT | O_WRONLY | O_CLOEXEC, 0o644)
        XCTAssertGreaterThanOrEqual(fd, 0)
        close(fd)

        XCTAssertNil(TreeRemoval.remove(tree))
        XCTAssertFalse(FileManager.default.fileExists(atPath: tree))
        XCTAssertEqual(try String(contentsOfFile: outside + "/kept", encoding: .utf8), "keep")
    }

    /// Far deeper than the levels it keeps open: the recursion and descriptors stay bounded.
    func testRemovesATreeDeeperThanItsOpenLevels() throws {
        let tree = base + "/tree"
        XCTAssertEqual(mkdir(tree, 0o755), 0)
        var directory = open(tree, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        // 1,000 levels through descriptors: the path would pass PATH_MAX.
        for level in 0..<1_000 {
            XCTAssertEqual(mkdirat(directory, "d", 0o755), 0, "level \(level)")
            let file = openat(directory, "f", O_CREAT | O_WRONLY | O_CLOEXEC, 0o644)
            close(file)
            let next = openat(directory, "d", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            close(directory)
            directory = next
        }
        close(directory)
        let descriptorsBefore = try FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count

        XCTAssertNil(TreeRemoval.remove(tree))
        XCTAssertFalse(FileManager.default.fileExists(atPath: tree))
        // A descriptor kept per level would leave hundreds open; other threads of the test
        // process may open a few meanwhile.
        XCTAssertLessThan(try FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count, descriptorsBefore + 16)
    }

    func testMissingPathAndPlainFile() throws {
        XCTAssertNil(TreeRemoval.remove(base + "/missing"))
        let file = base + "/file"
        try Data("x".utf8).write(to: URL(fileURLWithPath: file))
        XCTAssertNil(TreeRemoval.remove(file))
        XCTAssertFalse(FileManager.default.fileExists(atPath: file))
    }

    /// A mount point inside (a rootfs the runtime still holds) stays, with what is in it.
    func testLeavesMountPointsAndSaysSo() throws {
        guard getuid() == 0 else { throw XCTSkip("needs root to mount a tmpfs") }
        let tree = base + "/tree"
        try FileManager.default.createDirectory(atPath: tree + "/mounted", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: tree + "/upper", withIntermediateDirectories: true)
        try Data("x".utf8).write(to: URL(fileURLWithPath: tree + "/upper/file"))
        XCTAssertEqual(mount("tmpfs", tree + "/mounted", "tmpfs", 0, nil), 0)
        try Data("theirs".utf8).write(to: URL(fileURLWithPath: tree + "/mounted/data"))

        let failure = TreeRemoval.remove(tree)
        XCTAssertEqual(failure?.path, tree + "/mounted")
        XCTAssertEqual(failure?.errno, EBUSY)
        XCTAssertEqual(try String(contentsOfFile: tree + "/mounted/data", encoding: .utf8), "theirs")
        XCTAssertFalse(FileManager.default.fileExists(atPath: tree + "/upper"))
    }
}
