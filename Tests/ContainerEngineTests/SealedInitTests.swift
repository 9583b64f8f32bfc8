@testable import ContainerEngine
import Foundation
import LinuxKit
import XCTest

/// The CVE-2019-5736 protection: container init runs from a sealed memfd copy, made lazily.
final class SealedInitTests: XCTestCase {
    private static let F_ADD_SEALS: Int32 = 1033
    private static let F_GET_SEALS: Int32 = 1034
    private static let F_SEAL_SEAL: Int32 = 0x1, F_SEAL_SHRINK: Int32 = 0x2, F_SEAL_GROW: Int32 = 0x4,
        F_SEAL_WRITE: Int32 = 0x8

    private var binary: URL?
    private var original = Data()

    override func setUpWithError() throws {
        // A small stand-in for the agent binary: the copy does not care what it copies.
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("sealed-init-\(UUID().uuidString)")
        original = Data((0..<65_537).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) })
        try original.write(to: url)
        binary = url
    }

    override func tearDown() {
        if let binary { try? FileManager.default.removeItem(at: binary) }
    }

    private func makeEngine() throws -> Engine {
        // No `.all` reaper: the copy needs none, and the tests must not take the process's only one.
        let reaper = try Reaper(mode: .registeredOnly)
        return Engine(reaper: reaper, options: Engine.Options(initExecutable: try XCTUnwrap(binary).path))
    }

    func testCopyIsMadeOnFirstNeedAndShared() async throws {
        let engine = try makeEngine()
        XCTAssertEqual(engine.sealedInitFD, -1, "the engine copied the binary before any container needed it")
        let fds = try await withThrowingTaskGroup(of: Int32.self) { group in
            for _ in 0..<8 { group.addTask { try engine.initExecutableFD() } }
            return try await group.reduce(into: Set<Int32>()) { $0.insert($1) }
        }
        XCTAssertEqual(fds.count, 1, "concurrent first callers made several copies: \(fds)")
        let fd = try XCTUnwrap(fds.first)
        defer { close(fd) }
        XCTAssertEqual(try engine.initExecutableFD(), fd)
        try engine.prepare()
        XCTAssertEqual(engine.sealedInitFD, fd)
    }

    func testCopyIsSealedMemfdWithTheBinarysBytes() throws {
        let engine = try makeEngine()
        let fd = try engine.initExecutableFD()
        defer { close(fd) }
        let link = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/\(fd)")
        XCTAssertTrue(link.hasPrefix("/memfd:kata-agent"), "init executable fd points to \(link), not a memfd")

        let seals = fcntl(fd, Self.F_GET_SEALS)
        XCTAssertGreaterThanOrEqual(seals, 0, "F_GET_SEALS failed: errno \(errno)")
        for (seal, name) in [(Self.F_SEAL_SEAL, "SEAL"), (Self.F_SEAL_SHRINK, "SHRINK"), (Self.F_SEAL_GROW, "GROW"), (Self.F_SEAL_WRITE, "WRITE")] {
            XCTAssertNotEqual(seals & seal, 0, "F_SEAL_\(name) missing (seals \(seals))")
        }
        // Writing through a fresh writable open of the memfd, as a container could via /proc/<pid>/exe, fails.
        let writable = open("/proc/self/fd/\(fd)", O_WRONLY)
        if writable >= 0 {
            defer { close(writable) }
            let byte: [UInt8] = [0]
            XCTAssertEqual(write(writable, byte, 1), -1, "wrote into the sealed init executable")
            XCTAssertEqual(errno, EPERM)
        }
        XCTAssertEqual(ftruncate(fd, 0), -1, "truncated the sealed init executable")

        let copy = try Data(contentsOf: URL(fileURLWithPath: "/proc/self/fd/\(fd)"))
        XCTAssertEqual(copy.count, original.count)
        XCTAssertTrue(copy == original, "the sealed copy differs from the binary")
    }
}
