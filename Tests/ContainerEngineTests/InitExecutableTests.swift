@testable import ContainerEngine
import Foundation
import LinuxKit
import CLinuxShim
import OCISpec
import XCTest

/// Container inits run from the agent binary itself while it lies on a read-only mount (a guest
/// image's root), and from a sealed copy once that mount is writable: CVE-2019-5736 either way.
final class InitExecutableTests: XCTestCase {
    var rootfs: BusyboxRootfs?
    var reaper: Reaper?
    var directory: URL?
    var binary: String?
    var mounted = false

    override func setUpWithError() throws {
        try EngineTestSupport.requireRoot("bind mounts and containers")
        rootfs = try BusyboxRootfs()
        reaper = try Reaper(mode: .registeredOnly)
        // A copy of the built agent (no other process executes this inode, which would make a
        // write fail with ETXTBSY before the mount is looked at) in a directory bind-mounted
        // onto itself, read-only.
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("init-exe-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        directory = dir
        let target = dir.appendingPathComponent("kata-agent").path
        try FileManager.default.copyItem(atPath: try EngineTestSupport.agentBinary(), toPath: target)
        guard mount(dir.path, dir.path, nil, UInt(MS_BIND), nil) == 0 else {
            throw XCTSkip("cannot bind-mount \(dir.path): errno \(errno)")
        }
        mounted = true
        binary = target
        try remount(readOnly: true)
    }

    override func tearDown() {
        if mounted, let directory { _ = umount2(directory.path, Int32(MNT_DETACH)) }
        if let directory { try? FileManager.default.removeItem(at: directory) }
        reaper?.shutdown()
        rootfs?.remove()
    }

    private func remount(readOnly: Bool) throws {
        let target = try XCTUnwrap(directory).path
        let flags = UInt(MS_BIND | MS_REMOUNT) | (readOnly ? UInt(MS_RDONLY) : 0)
        guard mount(nil, target, nil, flags, nil) == 0 else {
            throw XCTSkip("cannot remount \(target) \(readOnly ? "ro" : "rw"): errno \(errno)")
        }
    }

    private func runTrue(_ engine: Engine) async throws -> Int32 {
        let container = try await Container.create(
            id: "ie-\(UUID().uuidString.prefix(8).lowercased())", bundle: try XCTUnwrap(rootfs).bundle.path,
            spec: TestSpecs.basic(["true"]), engine: engine)
        try await container.start()
        let status = try await container.wait()
        try await container.delete(timeout: .seconds(10))
        return status
    }

    /// Waits until the reaper saw `pid` exit; past a deadline, fails and kills it (the reaper's
    /// wait cannot be cancelled) instead of hanging.
    private static func waitForExit(_ pid: pid_t, reaper: Reaper) async throws {
        try await withThrowingTaskGroup(of: Bool.self) { group in
            group.addTask { _ = try await reaper.wait(pid); return true }
            group.addTask { try await Task.sleep(for: .seconds(30)); return false }
            let exited = try await group.next() ?? false
            if !exited {
                XCTFail("pid \(pid) still runs 30 s after it was retired")
                try? reaper.signal(pid, SIGKILL)
            }
            group.cancelAll()
        }
    }

    private static func exe(of pid: pid_t) throws -> String {
        try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/exe")
    }

    func testReadOnlyBinaryIsRunDirectlyUntilItsMountTurnsWritable() async throws {
        let path = try XCTUnwrap(binary)
        let engine = Engine(reaper: try XCTUnwrap(reaper), options: Engine.Options(
            initExecutable: path, initTimeoutMilliseconds: 20_000))
        let status = try await runTrue(engine)
        XCTAssertEqual(status, 0)
        XCTAssertEqual(engine.sealedInitFD, -1, "copied a binary that lies on a read-only mount")
        let zygote = try XCTUnwrap(engine.zygotePid, "no zygote after the first container")
        XCTAssertEqual(try Self.exe(of: zygote), path)
        // What a container could try through /proc/<pid>/exe of an init (a clone of the zygote)
        // once nothing executes the binary any more: open it for writing.
        let handle = engine_open_path("/proc/\(zygote)/exe")
        XCTAssertGreaterThanOrEqual(handle, 0, "cannot open the zygote's executable: errno \(-handle)")
        defer { if handle >= 0 { close(handle) } }
        engine.zygote.retire(engine: engine)
        _ = try await engine.reaper.wait(zygote)
        let writable = open("/proc/self/fd/\(handle)", O_WRONLY)
        let openError = errno
        if writable >= 0 { close(writable) }
        XCTAssertEqual(writable, -1, "the init executable could be opened for writing")
        XCTAssertEqual(openError, EROFS)

        // A new zygote from the read-only binary, for the switch below to retire.
        let second = try await runTrue(engine)
        XCTAssertEqual(second, 0)
        let readOnlyZygote = try XCTUnwrap(engine.zygotePid, "no zygote after the second container")
        XCTAssertEqual(try Self.exe(of: readOnlyZygote), path)

        // Writable now: from the next launch on, a sealed copy, and a new zygote executed from it.
        try remount(readOnly: false)
        let again = try await runTrue(engine)
        XCTAssertEqual(again, 0)
        XCTAssertGreaterThanOrEqual(engine.sealedInitFD, 0, "no sealed copy once the mount is writable")
        let next = try XCTUnwrap(engine.zygotePid, "no zygote after the switch")
        XCTAssertNotEqual(next, readOnlyZygote, "the zygote executed from the writable binary still serves")
        try await Self.waitForExit(readOnlyZygote, reaper: engine.reaper)
        let nextExe = try Self.exe(of: next)
        XCTAssertTrue(nextExe.hasPrefix("/memfd:kata-agent"), "the new zygote runs from \(nextExe)")

        // For good: read-only again changes nothing.
        try remount(readOnly: true)
        let sealed = engine.sealedInitFD
        XCTAssertEqual(try engine.initExecutableFD(), sealed)
    }
}
