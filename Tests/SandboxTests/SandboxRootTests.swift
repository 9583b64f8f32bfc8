import Foundation
import Glibc
import LinuxKit
import Logging
import XCTest
@testable import Sandbox

/// The sandbox domain's kernel effects, inside private mount/UTS namespaces. Namespaces are
/// per thread, so the synchronous pieces CreateSandbox uses run directly on the unshared
/// thread (the actor would run them on a pool thread, in the host's namespaces).
final class SandboxRootTests: XCTestCase {
    func testHostnameStoragesAndDNSAgainstTheKernel() throws {
        let dir = NSTemporaryDirectory() + "sandbox-root-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let hostBefore = currentHostname()
        try inPrivateNamespaces {
            let system = LinuxSystemCalls()
            let logger = Logger(label: "test")

            try system.setHostname("kata-sandbox-test")
            XCTAssertEqual(currentHostname(), "kata-sandbox-test")

            let context = StorageContext(system: system, files: LinuxStorageSystemCalls(), logger: logger)
            let ephemeral = try EphemeralDriver().mountTmpfs(
                StorageRequest(driver: "ephemeral", source: "tmpfs", fsType: "tmpfs", options: ["size=1m", "nodev"], mountPoint: dir + "/eph"),
                context: context)
            let mounts = try String(contentsOfFile: "/proc/thread-self/mounts", encoding: .utf8)
            let line = mounts.split(separator: "\n").first { $0.split(separator: " ").dropFirst().first.map(String.init) == dir + "/eph" }
            XCTAssertNotNil(line, "tmpfs not mounted at \(dir)/eph")
            XCTAssertTrue(line?.contains("tmpfs") ?? false)
            XCTAssertTrue(line?.contains("nodev") ?? false, String(line ?? ""))
            XCTAssertTrue(line?.contains("size=1024k") ?? false, String(line ?? ""))

            _ = try LocalDriver().prepare(StorageRequest(driver: "local", options: ["mode=0750"], mountPoint: dir + "/local/vol"), context: context)
            XCTAssertEqual(system.fileKind(dir + "/local/vol"), FileKind(kind: .directory, permissions: 0o750))

            // A container's bind mount of resolv.conf keeps seeing what CreateSandbox writes.
            let resolv = dir + "/resolv.conf", bound = dir + "/container-resolv.conf"
            XCTAssertTrue(FileManager.default.createFile(atPath: resolv, contents: Data("nameserver 9.9.9.9\n".utf8)))
            XCTAssertTrue(FileManager.default.createFile(atPath: bound, contents: Data()))
            try system.mount(source: resolv, target: bound, fsType: "", flags: .bind, data: "")
            try SandboxDNS.write(["nameserver 10.1.2.3", "search pod.local"], to: resolv, system: system, logger: logger)
            XCTAssertEqual(try String(contentsOfFile: bound, encoding: .utf8), "nameserver 10.1.2.3\nsearch pod.local\n")

            try system.unmount(target: bound, detach: false)
            try system.unmount(target: ephemeral.mountPoint, detach: false)
        }
        XCTAssertEqual(currentHostname(), hostBefore, "hostname must not leak out of the UTS namespace")
    }
}

func currentHostname() -> String {
    var buffer = [UInt8](repeating: 0, count: 256)
    _ = buffer.withUnsafeMutableBytes { raw in
        raw.baseAddress.map { gethostname($0.assumingMemoryBound(to: CChar.self), raw.count - 1) } ?? -1
    }
    return String(decoding: buffer.prefix(while: { $0 != 0 }), as: UTF8.self)
}
