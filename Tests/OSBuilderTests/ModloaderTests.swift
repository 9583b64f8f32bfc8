import Foundation
import XCTest
@testable import OSBuilder

/// The module-loading initramfs used for image boots with a modular kernel.
final class ModloaderTests: XCTestCase {
    func testModloaderInitrdCarriesModulesAndAValidInitScript() throws {
        try TestSupport.requireTool("/bin/busybox")
        let dir = try TestSupport.temporaryDirectory()
        let modules = "\(dir)/6.1.0-test"
        let fm = FileManager.default
        try fm.createDirectory(atPath: "\(modules)/kernel/drivers/block", withIntermediateDirectories: true)
        try fm.createDirectory(atPath: "\(modules)/kernel/drivers/virtio", withIntermediateDirectories: true)
        XCTAssertTrue(fm.createFile(atPath: "\(modules)/kernel/drivers/block/virtio_blk.ko", contents: Data("m".utf8)))
        XCTAssertTrue(fm.createFile(atPath: "\(modules)/kernel/drivers/virtio/virtio.ko", contents: Data("m".utf8)))
        XCTAssertTrue(fm.createFile(atPath: "\(modules)/modules.dep", contents: Data(
            "kernel/drivers/block/virtio_blk.ko: kernel/drivers/virtio/virtio.ko\nkernel/drivers/virtio/virtio.ko:\n".utf8)))
        var options = RootfsOptions(template: try TestSupport.templates.load("modloader"))
        options.kernelModulesDirectory = modules
        options.modules = ["virtio_blk"]
        options.sourceDateEpoch = 1_700_000_000
        XCTAssertEqual(options.agentPlacement, .none, "no agent needed")
        try RootfsBuilder(options: options, progress: BuildProgress(quiet: true)).build(into: "\(dir)/rootfs")
        try InitrdBuilder(rootfs: "\(dir)/rootfs", sourceDateEpoch: 1_700_000_000, progress: BuildProgress(quiet: true)).build(output: "\(dir)/modloader.gz")
        let members = try CpioReader.read(try Compression.readDecompressed("\(dir)/modloader.gz"))
        let names = Set(members.map(\.name))
        for expected in ["init", "bin/busybox", "bin/sh", "sbin/modprobe", "sbin/switch_root", "newroot",
                         "lib/modules/6.1.0-test/kernel/drivers/block/virtio_blk.ko", "etc/modules-load.d/kata.conf"] {
            XCTAssertTrue(names.contains(expected), expected)
        }
        let initScript = try XCTUnwrap(members.first { $0.name == "init" })
        XCTAssertEqual(initScript.header.mode, 0o100755)
        // The script parses under the shell it will run with.
        let script = "\(dir)/init.sh"
        try initScript.contents.write(to: URL(fileURLWithPath: script))
        let (status, _, stderr) = try TestSupport.run("/bin/busybox", ["sh", "-n", script])
        XCTAssertEqual(status, 0, stderr)
        let report = try Checker().check("\(dir)/modloader.gz")
        XCTAssertTrue(report.passed, report.rendered())
    }
}
