import Foundation
import XCTest

/// Root container tests through the real agent: a fresh busybox rootfs for each test, removed
/// after it; skipped with a message when not root.
class ContainerRPCTestCase: XCTestCase {
    var rootfs = ""

    /// Applets the tests need beyond the fixture's (nil: ContainerRPCClient's default set).
    var extraApplets: [String]? { nil }

    override func setUpWithError() throws {
        guard getuid() == 0 else { throw XCTSkip("needs root: containers need namespaces, mounts and cgroups") }
        rootfs = try extraApplets.map { try ContainerRPCClient.rootfs(extraApplets: $0) } ?? ContainerRPCClient.rootfs()
    }

    override func tearDown() {
        ContainerRPCClient.removeRootfs(rootfs)
    }
}
