import ContainerEngine
import Foundation
import XCTest

final class SysctlsTests: XCTestCase {
    func testUpstreamRules() throws {
        XCTAssertNoThrow(try Sysctls.validate(["net.ipv4.ip_forward": "1"], hasIPCNamespace: false, hasUTSNamespace: false))
        XCTAssertNoThrow(try Sysctls.validate(["kernel.shmmax": "1", "fs.mqueue.msg_max": "20", "kernel.sem": "1 2 3 4"],
                                              hasIPCNamespace: true, hasUTSNamespace: false))
        XCTAssertNoThrow(try Sysctls.validate(["kernel.domainname": "x"], hasIPCNamespace: false, hasUTSNamespace: true))
        for (key, ipc, uts) in [("kernel.shmmax", false, true), ("fs.mqueue.msg_max", false, true), ("kernel.msgmax", false, false),
                                ("kernel.domainname", true, false), ("kernel.hostname", true, true),
                                ("vm.swappiness", true, true), ("kernel.pid_max", true, true),
                                ("net/../../etc", true, true), ("", true, true), ("net..x", true, true)] {
            XCTAssertThrowsError(try Sysctls.validate([key: "1"], hasIPCNamespace: ipc, hasUTSNamespace: uts), key) { error in
                guard let sysctlError = error as? SysctlError else { return XCTFail("\(error)") }
                XCTAssertEqual(sysctlError.key, key)
                XCTAssertTrue(sysctlError.description.contains("\"\(key)\""), sysctlError.description)
            }
        }
    }

    func testFirstRejectedKeyIsStable() {
        XCTAssertThrowsError(try Sysctls.validate(["vm.b": "1", "net.core.somaxconn": "1", "vm.a": "1"],
                                                  hasIPCNamespace: true, hasUTSNamespace: true)) { error in
            XCTAssertEqual((error as? SysctlError)?.key, "vm.a")
        }
    }

    func testApplyWritesUnderProcSys() throws {
        let root = NSTemporaryDirectory() + "sysctl-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: root) }
        try FileManager.default.createDirectory(atPath: root + "/net/ipv4", withIntermediateDirectories: true)
        XCTAssertTrue(FileManager.default.createFile(atPath: root + "/net/ipv4/ip_forward", contents: Data("0".utf8)))
        XCTAssertEqual(Sysctls.path(for: "net.ipv4.ip_forward", procSys: root), root + "/net/ipv4/ip_forward")
        try Sysctls.apply(["net.ipv4.ip_forward": "1"], procSys: root)
        XCTAssertEqual(try String(contentsOfFile: root + "/net/ipv4/ip_forward", encoding: .utf8), "1")
        XCTAssertThrowsError(try Sysctls.apply(["net.ipv4.missing": "1"], procSys: root)) { error in
            XCTAssertEqual((error as? SysctlError)?.key, "net.ipv4.missing")
        }
    }

    /// Applied for real in a child that has its own ipc and net namespaces (the host's values
    /// are untouched), then read back from /proc/sys.
    func testAppliedInNamespacedChild() throws {
        try SecurityProbe.requireRoot()
        let hostShmmni = try String(contentsOfFile: "/proc/sys/kernel/shmmni", encoding: .utf8)
        let output = try SecurityProbe.run(SecurityProbe.Config(
            unshare: ["ipc", "net"], sysctls: ["kernel.shmmni": "1234", "net.ipv4.ip_forward": "1"],
            probes: ["read:/proc/sys/kernel/shmmni", "read:/proc/sys/net/ipv4/ip_forward"]))
        XCTAssertTrue(output.raw.contains("read 1234\n"), "\(output)")
        XCTAssertTrue(output.raw.contains("read 1\n"), "\(output)")
        XCTAssertEqual(try String(contentsOfFile: "/proc/sys/kernel/shmmni", encoding: .utf8), hostShmmni)
        // Without its own ipc namespace the same key is refused, naming it.
        let refused = try SecurityProbe.run(SecurityProbe.Config(sysctls: ["kernel.shmmni": "1234"], probes: []), expectFailure: true)
        XCTAssertTrue(refused.raw.contains("\"kernel.shmmni\""), "\(refused)")
    }

}
