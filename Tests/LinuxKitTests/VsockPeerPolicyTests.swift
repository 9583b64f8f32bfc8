import XCTest

@testable import LinuxKit

/// Which vsock peers the agent's listeners serve: the host always, in-guest (loopback) clients
/// such as a container's process only when the test-only option asks for them.
final class VsockPeerPolicyTests: XCTestCase {
    func testHostOnlyByDefault() {
        let policy = VsockPeerPolicy.hostOnly
        XCTAssertTrue(policy.admits(cid: 2))
        for cid: UInt32 in [0, 1, 3, 42, UInt32.max - 1] {
            XCTAssertFalse(policy.admits(cid: cid), "CID \(cid)")
        }
    }

    func testGuestClientsWhenAllowed() {
        let policy = VsockPeerPolicy(allowGuestClients: true)
        XCTAssertTrue(policy.admits(cid: 1))
        XCTAssertTrue(policy.admits(cid: 3))
        XCTAssertTrue(policy.admits(cid: 2))
    }

    /// Unix peers carry no CID and are not judged by the policy: a unix listener still accepts.
    func testUnixListenerIsNotFiltered() throws {
        let path = FileManager.default.temporaryDirectory.path + "/peer-policy-\(getpid()).sock"
        defer { unlink(path) }
        let listener = try ConsoleListener.unix(path: path)
        let client = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(client) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in path.utf8.prefix(raw.count - 1).enumerated() { raw[index] = byte }
        }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(client, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        XCTAssertEqual(connected, 0)
        let accepted = try XCTUnwrap(try listener.accept())
        close(accepted)
    }
}
