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
}
