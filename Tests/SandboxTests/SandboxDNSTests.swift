import Foundation
import Glibc
import LinuxKit
import Logging
import XCTest

@testable import Sandbox

/// CreateSandbox's DNS as upstream: the sandbox's own resolv.conf under /run, bind-mounted over
/// the guest's /etc/resolv.conf (which may sit on a read-only root).
final class SandboxDNSTests: XCTestCase {
    private let logger = Logger(label: "dns-test")

    func testSandboxCopyIsWrittenAndBoundOverTheGuestFile() throws {
        let system = InMemorySystemCalls()
        system.addFile("/etc/resolv.conf", "nameserver 127.0.0.53\n")
        try SandboxDNS.write([" nameserver 10.96.0.10", "search svc.cluster.local", "options ndots:5", ""],
                             to: "/etc/resolv.conf", via: "/run/kata-containers/sandbox/resolv.conf", system: system, logger: logger)
        XCTAssertEqual(try system.readFile("/run/kata-containers/sandbox/resolv.conf"),
                       "nameserver 10.96.0.10\nsearch svc.cluster.local\noptions ndots:5\n")
        XCTAssertEqual(try system.readFile("/etc/resolv.conf"), "nameserver 127.0.0.53\n", "the guest file itself is not written")
        XCTAssertTrue(system.calls.contains { $0.hasPrefix("mount") && $0.contains("/run/kata-containers/sandbox/resolv.conf")
                && $0.contains("/etc/resolv.conf") }, "\(system.calls)")
    }

    func testNoGuestFileMeansNoBindMountAndNoDNSMeansNothing() throws {
        let system = InMemorySystemCalls()
        try SandboxDNS.write(["nameserver 10.0.0.1"], to: "/etc/resolv.conf", via: "/run/k/resolv.conf", system: system, logger: logger)
        XCTAssertEqual(try system.readFile("/run/k/resolv.conf"), "nameserver 10.0.0.1\n")
        XCTAssertFalse(system.calls.contains { $0.hasPrefix("mount") })
        let untouched = InMemorySystemCalls()
        try SandboxDNS.write([], to: "/etc/resolv.conf", via: "/run/k/resolv.conf", system: untouched, logger: logger)
        XCTAssertEqual(untouched.calls, [])
    }

    func testLiveEnvironmentUsesUpstreamsPath() {
        XCTAssertEqual(SandboxEnvironment.live(logger: logger).sandboxResolvConfPath, "/run/kata-containers/sandbox/resolv.conf")
    }

    /// The kernel side: a read-only "guest" file shows the sandbox's lines through the bind mount.
    func testBindMountOverAReadOnlyFileAgainstTheKernel() throws {
        let dir = NSTemporaryDirectory() + "sandbox-dns-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let logger = self.logger
        try inPrivateNamespaces {
            let system = LinuxSystemCalls()
            let guestFile = dir + "/etc-resolv.conf"
            XCTAssertTrue(FileManager.default.createFile(atPath: guestFile, contents: Data("nameserver 1.1.1.1\n".utf8)))
            // The guest root is read-only in images: make this file so (a read-only bind of itself).
            try system.mount(source: guestFile, target: guestFile, fsType: "", flags: .bind, data: "")
            try system.mount(source: "", target: guestFile, fsType: "", flags: [.bind, .remount, .readOnly], data: "")
            XCTAssertThrowsError(try system.writeFileInPlace(guestFile, contents: "x", mode: 0o644))
            try SandboxDNS.write(["nameserver 10.9.9.9"], to: guestFile, via: dir + "/run/sandbox/resolv.conf",
                                 system: system, logger: logger)
            XCTAssertEqual(try String(contentsOfFile: guestFile, encoding: .utf8), "nameserver 10.9.9.9\n")
            try system.unmount(target: guestFile, detach: true)
            try system.unmount(target: guestFile, detach: true)
        }
    }
}
