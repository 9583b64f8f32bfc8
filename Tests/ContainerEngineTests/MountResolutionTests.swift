import Foundation
import OCISpec
import XCTest

@testable import ContainerEngine

/// Mount destinations are resolved inside the container root and mounted through a descriptor
/// (SecureJoin, RootedTarget): no symlink in the rootfs, placed before or during the set-up,
/// can put a mount outside it (the runc CVE-2021-30465 class).
final class MountResolutionTests: XCTestCase {
    private var directories: [String] = []

    override func tearDown() {
        for directory in directories { try? FileManager.default.removeItem(atPath: directory) }
    }

    private func scratch() throws -> String {
        let path = FileManager.default.temporaryDirectory.path + "/mount-resolution-" + UUID().uuidString.prefix(8)
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        directories.append(path)
        return path
    }

    func testSymlinkChainsResolveInsideTheRootAndLoopsFail() throws {
        let links = ["/r/a": "/b", "/r/b": "../../c", "/r/loop1": "loop2", "/r/loop2": "loop1"]
        let readLink: (String) -> String? = { links[$0] }
        XCTAssertEqual(try SecureJoin.join(root: "/r", "/a/x", readLink: readLink), "/r/c/x")
        XCTAssertThrowsError(try SecureJoin.resolve(root: "/r", "/loop1/x", readLink: readLink))
        // A chain one longer than the kernel allows is refused, not taken literally: the literal
        // name is a symlink the mount would follow (an absolute one leads out of the root).
        var chain: [String: String] = [:]
        for index in 0...SecureJoin.maxLinks { chain["/r/l\(index)"] = "l\(index + 1)" }
        chain["/r/l\(SecureJoin.maxLinks + 1)"] = "/outside"
        XCTAssertThrowsError(try SecureJoin.resolve(root: "/r", "/l0", readLink: { chain[$0] })) { error in
            XCTAssertTrue("\(error)".contains("symlinks"), "\(error)")
        }
        XCTAssertEqual(try SecureJoin.resolve(root: "/r", "/l2", readLink: { chain[$0] }), "outside")
    }

    func testRootedTargetCreatesMissingPartsInsideTheRoot() throws {
        let root = try scratch()
        let target = try RootedTarget(root: root, path: "a/b/c", directory: true, step: "test")
        defer { target.close() }
        var isDirectory: ObjCBool = false
        XCTAssertTrue(FileManager.default.fileExists(atPath: root + "/a/b/c", isDirectory: &isDirectory))
        XCTAssertTrue(isDirectory.boolValue)
        let file = try RootedTarget(root: root, path: "a/f", directory: false, step: "test")
        file.close()
        XCTAssertTrue(FileManager.default.fileExists(atPath: root + "/a/f", isDirectory: &isDirectory))
        XCTAssertFalse(isDirectory.boolValue)
    }

    /// A component swapped for a symlink to a host directory after resolution (the race) is
    /// followed inside the root, where it leads nowhere: the set-up fails and nothing is created
    /// on the host.
    func testSwappedComponentCannotLeadOutOfTheRoot() throws {
        let root = try scratch()
        let outside = try scratch()
        try FileManager.default.createSymbolicLink(atPath: root + "/a", withDestinationPath: outside)
        XCTAssertThrowsError(try RootedTarget(root: root, path: "a/b", directory: true, step: "test"))
        XCTAssertFalse(FileManager.default.fileExists(atPath: outside + "/b"))
        // Relative climbs stop at the root too.
        try FileManager.default.createSymbolicLink(atPath: root + "/up", withDestinationPath: "../../../../..")
        let up = try RootedTarget(root: root, path: "up/made-here", directory: true, step: "test")
        up.close()
        XCTAssertTrue(FileManager.default.fileExists(atPath: root + "/made-here"))
    }

    func testSymlinkLoopIsAnError() throws {
        let root = try scratch()
        try FileManager.default.createSymbolicLink(atPath: root + "/x", withDestinationPath: "y")
        try FileManager.default.createSymbolicLink(atPath: root + "/y", withDestinationPath: "x")
        XCTAssertThrowsError(try RootedTarget(root: root, path: "x/z", directory: true, step: "test")) { error in
            XCTAssertTrue("\(error)".contains("loop"), "\(error)")
        }
    }
}

extension ContainerLifecycleTests {
    /// A mount destination reached through more symlinks than the resolver follows used to be
    /// taken literally; its last link, absolute, then put the tmpfs on the host.
    func testMountThroughALongSymlinkChainIsRefused() async throws {
        let rootfs = try XCTUnwrap(self.rootfs).bundle.path + "/rootfs"
        let host = FileManager.default.temporaryDirectory.path + "/escape-target-" + UUID().uuidString.prefix(8)
        try FileManager.default.createDirectory(atPath: host, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: host) }
        let count = 256
        for index in 0..<count {
            try FileManager.default.createSymbolicLink(atPath: rootfs + "/chain\(index)", withDestinationPath: "chain\(index + 1)")
        }
        try FileManager.default.createSymbolicLink(atPath: rootfs + "/chain\(count)", withDestinationPath: host)
        var spec = TestSpecs.basic(["true"])
        spec.mounts = (spec.mounts ?? []) + [Mount(destination: "/chain0", type: "tmpfs", source: "tmpfs", options: ["size=1m"])]
        do {
            _ = try await run(spec)
            XCTFail("a container whose mount goes through \(count) symlinks was created")
        } catch {
            XCTAssertTrue("\(error)".contains("symlink"), "\(error)")
        }
        let mountinfo = try String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8)
        XCTAssertFalse(mountinfo.contains(host), "a tmpfs was mounted on the host at \(host)")
    }

    /// A destination that is a dangling symlink inside the image (Ubuntu's /etc/resolv.conf)
    /// still gets its mount, at the link's target inside the root.
    func testBindMountOnADanglingSymlinkLandsInsideTheRoot() async throws {
        let rootfs = try XCTUnwrap(self.rootfs).bundle.path + "/rootfs"
        try? FileManager.default.removeItem(atPath: rootfs + "/etc/resolv.conf")
        try FileManager.default.createDirectory(atPath: rootfs + "/etc", withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: rootfs + "/etc/resolv.conf", withDestinationPath: "../run/stub/resolv.conf")
        let source = FileManager.default.temporaryDirectory.path + "/resolv-" + UUID().uuidString.prefix(8)
        try "nameserver 192.0.2.53\n".write(toFile: source, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: source) }
        var spec = TestSpecs.basic(["cat", "/etc/resolv.conf"])
        spec.mounts = (spec.mounts ?? []) + [Mount(destination: "/etc/resolv.conf", type: "bind", source: source, options: ["bind", "ro"])]
        let result = try await run(spec)
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertEqual(result.stdout, "nameserver 192.0.2.53\n")
    }
}
