import Foundation
import XCTest
@testable import OSBuilder

/// The osbuilder executable: one-line errors, non-zero exits, no partial outputs.
final class CLITests: XCTestCase {
    func binary() throws -> String {
        let path = ProcessInfo.processInfo.environment["OSBUILDER_BIN"] ?? "\(TestSupport.repo)/.build/debug/osbuilder"
        guard FileManager.default.isExecutableFile(atPath: path) else { throw XCTSkip("\(path) not built (swift build --product osbuilder)") }
        return path
    }

    func testUnknownTemplateAndMissingAgentAreOneLineErrors() throws {
        let osb = try binary()
        let dir = try TestSupport.temporaryDirectory()
        let cases: [([String], String)] = [
            (["initrd", "--template", "nosuch", "--agent", "/bin/busybox", "-o", "\(dir)/a.gz"], "unknown template"),
            (["initrd", "--template", "minimal", "--agent", "\(dir)/missing", "-o", "\(dir)/a.gz"], "missing"),
            (["image", "--template", "minimal", "-o", "\(dir)/a.img"], "no agent binary"),
            (["initrd", "--template", "minimal", "--agent", "/bin/busybox", "--modules", "virtio_blk", "-o", "\(dir)/a.gz"], "--kernel-modules-dir"),
        ]
        for (args, expected) in cases {
            let (status, _, stderr) = try TestSupport.run(osb, args + ["--templates", "\(TestSupport.repo)/rootfs-templates"])
            XCTAssertNotEqual(status, 0, args.joined(separator: " "))
            let lines = stderr.split(separator: "\n")
            XCTAssertEqual(lines.count, 1, stderr)
            XCTAssertTrue(stderr.hasPrefix("osbuilder: error: ") && stderr.contains(expected), stderr)
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir), [], "nothing written")
    }

    func testBuildAndCheckThroughTheCLI() throws {
        let osb = try binary()
        let agent = try TestSupport.standInAgent()
        let dir = try TestSupport.temporaryDirectory()
        let common = ["--templates", "\(TestSupport.repo)/rootfs-templates", "--template", "minimal", "--agent", agent, "--quiet"]
        var (status, _, stderr) = try TestSupport.run(osb, ["initrd"] + common + ["-o", "\(dir)/initrd.gz"], env: ["SOURCE_DATE_EPOCH": "1700000000"])
        XCTAssertEqual(status, 0, stderr)
        let (checked, out, _) = try TestSupport.run(osb, ["check", "\(dir)/initrd.gz"])
        XCTAssertEqual(checked, 0, String(decoding: out, as: UTF8.self))
        XCTAssertTrue(String(decoding: out, as: UTF8.self).contains("result: ok"))
        (status, _, stderr) = try TestSupport.run(osb, ["list-templates", "--templates", "\(TestSupport.repo)/rootfs-templates"])
        XCTAssertEqual(status, 0, stderr)
        (status, _, stderr) = try TestSupport.run(osb, ["check", "/bin/ls"])
        XCTAssertNotEqual(status, 0, "a random file is no initrd")
        let (help, helpText, _) = try TestSupport.run(osb, ["image", "--help"])
        XCTAssertEqual(help, 0)
        for option in ["--no-dax", "--free-space", "--alignment-mb", "--kernel-modules-dir", "--extra-file", "--agent-init"] {
            XCTAssertTrue(String(decoding: helpText, as: UTF8.self).contains(option), option)
        }
    }

    /// Bad --fs-type / --erofs-compression combinations: one line, non-zero, nothing written
    /// (no image, no partial, no root hash file, no staged rootfs).
    func testImageFormatErrorsAreOneLineAndLeaveNothing() throws {
        let osb = try binary()
        let agent = try TestSupport.standInAgent()
        let dir = try TestSupport.temporaryDirectory()
        let common = ["image", "--templates", "\(TestSupport.repo)/rootfs-templates", "--template", "minimal", "--agent", agent, "-q", "-o", "\(dir)/a.img"]
        let cases: [([String], String)] = [
            (["--fs-type", "btrfs"], "parse --fs-type btrfs: expected ext4, xfs or erofs"),
            (["--fs-type", "erofs", "--erofs-compression", "gzip"], "parse --erofs-compression gzip"),
            (["--fs-type", "erofs", "--erofs-compression", "lz4hc,99"], "parse --erofs-compression"),
            (["--fs-type", "erofs", "--free-space", "4", "--verity"], "erofs is read-only"),
            (["--fs-type", "xfs", "--erofs-compression", "lz4"], "--erofs-compression needs --fs-type erofs"),
        ]
        for (args, expected) in cases {
            let (status, _, stderr) = try TestSupport.run(osb, common + args)
            XCTAssertNotEqual(status, 0, args.joined(separator: " "))
            XCTAssertEqual(stderr.split(separator: "\n").count, 1, stderr)
            XCTAssertTrue(stderr.hasPrefix("osbuilder: error: ") && stderr.contains(expected), stderr)
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir), [], "nothing written")
    }

    /// A measured image through the CLI: root hash and kernel parameters on stdout even with -q,
    /// the root hash file beside the image, check passing.
    func testVerityImageThroughTheCLI() throws {
        let osb = try binary()
        guard Tool.veritysetup.isAvailable, Tool.mkfsEROFS.isAvailable else { throw XCTSkip("veritysetup or mkfs.erofs missing (make deps)") }
        let agent = try TestSupport.standInAgent()
        let dir = try TestSupport.temporaryDirectory()
        let (status, out, stderr) = try TestSupport.run(osb, ["image", "--templates", "\(TestSupport.repo)/rootfs-templates", "--template", "minimal",
                                                              "--agent", agent, "-q", "-o", "\(dir)/v.img", "--fs-type", "erofs", "--verity", "--alignment-mb", "1"],
                                                        env: ["SOURCE_DATE_EPOCH": "1700000000"])
        XCTAssertEqual(status, 0, stderr)
        let text = String(decoding: out, as: UTF8.self)
        let file = try String(contentsOfFile: "\(dir)/v.img.root_hash.txt", encoding: .utf8)
        let parameters = try VerityParameters.parse(file, file: "v.img.root_hash.txt")
        XCTAssertTrue(text.contains("root hash: \(parameters.rootHash)"), text)
        XCTAssertTrue(text.contains("root=/dev/dm-0 ro rootfstype=erofs"), text)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir).sorted(), ["v.img", "v.img.root_hash.txt"])
        let (checked, report, _) = try TestSupport.run(osb, ["check", "\(dir)/v.img"])
        XCTAssertEqual(checked, 0, String(decoding: report, as: UTF8.self))
        let (help, helpText, _) = try TestSupport.run(osb, ["image", "--help"])
        XCTAssertEqual(help, 0)
        for option in ["--fs-type", "--verity", "--erofs-compression"] {
            XCTAssertTrue(String(decoding: helpText, as: UTF8.self).contains(option), option)
        }
    }
}
