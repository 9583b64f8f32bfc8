import Foundation
import XCTest
@testable import OSBuilder

/// The debian template bootstraps from the network and takes minutes, so it runs only with
/// OSBUILDER_TEST_DEBIAN=1 (`make test-osbuilder-debian`), not in `make test`.
final class DebianTemplateTests: XCTestCase {
    func testDebianRootfsAndImage() throws {
        guard ProcessInfo.processInfo.environment["OSBUILDER_TEST_DEBIAN"] == "1" else {
            throw XCTSkip("set OSBUILDER_TEST_DEBIAN=1 (make test-osbuilder-debian) to bootstrap Debian")
        }
        guard TestSupport.isRoot else { throw XCTSkip("mmdebstrap in root mode needs root") }
        let dir = try TestSupport.temporaryDirectory()
        var options = RootfsOptions(template: try TestSupport.templates.load("debian"))
        options.agentBinary = try TestSupport.standInAgent()
        options.sourceDateEpoch = 1_700_000_000
        try RootfsBuilder(options: options).build(into: "\(dir)/rootfs")
        let root = "\(dir)/rootfs"
        XCTAssertTrue(FileManager.default.isExecutableFile(atPath: "\(root)/usr/bin/kata-agent"))
        XCTAssertEqual(try FileManager.default.destinationOfSymbolicLink(atPath: "\(root)/etc/systemd/system/systemd-journald.service"), "/dev/null")
        XCTAssertTrue(FileManager.default.fileExists(atPath: "\(root)/usr/lib/systemd/system/kata-agent.service"))
        var image = ImageOptions(rootfs: root)
        image.sourceDateEpoch = 1_700_000_000
        try ImageBuilder(options: image).build(output: "\(dir)/debian.img")
        let report = try Checker().check("\(dir)/debian.img")
        XCTAssertTrue(report.passed, report.rendered())
    }
}
