import Foundation
import OCISpec
import XCTest

@testable import ContainerEngine

/// An exec joins the namespaces the agent pinned while the init was alive, by descriptor: once
/// the init is gone and its pid possibly reused, the paths still name the init's namespaces.
final class PinnedNamespacesTests: XCTestCase {
    func testPinnedPathsOutliveTheProcess() throws {
        try EngineTestSupport.requireRoot("a child in its own UTS namespace needs unshare")
        let child = Process()
        child.executableURL = URL(fileURLWithPath: "/usr/bin/unshare")
        child.arguments = ["-u", "/bin/sleep", "1000"]
        try child.run()
        defer { if child.isRunning { child.terminate() } }
        let pid = child.processIdentifier
        // unshare execs sleep once its namespace exists: wait for the namespace to differ.
        let deadline = Date(timeIntervalSinceNow: 30)
        while !((try? Container.differs("uts", pid)) ?? false) {
            XCTAssertLessThan(Date(), deadline, "the child never entered its own UTS namespace")
            usleep(10_000)
        }
        let utsPath = "/proc/\(pid)/ns/uts"
        let original = try FileManager.default.destinationOfSymbolicLink(atPath: utsPath)
        let pinned = try PinnedNamespaces(of: pid)
        defer { pinned.close() }
        let uts = try XCTUnwrap(pinned.join.first { $0.type == "uts" }?.path)
        XCTAssertTrue(uts.hasPrefix("/proc/\(getpid())/fd/"), uts)
        XCTAssertNil(pinned.join.first { $0.type == "mount" }, "only namespaces that differ are joined")
        child.terminate()
        child.waitUntilExit()
        XCTAssertFalse(FileManager.default.fileExists(atPath: utsPath), "the child's /proc entry is gone")
        XCTAssertEqual(try FileManager.default.destinationOfSymbolicLink(atPath: uts), original)
    }

    func testAProcessThatIsGoneCannotBePinned() {
        XCTAssertThrowsError(try PinnedNamespaces(of: Int32.max - 1))
    }
}

extension ContainerLifecycleTests {
    /// An exec into a container with its own user namespace joins it through the pinned
    /// descriptors, which it opens before its first setns (afterwards it could not).
    func testExecJoinsAUserNamespacedContainer() async throws {
        let engine = try XCTUnwrap(self.engine)
        var spec = TestSpecs.basic(["sleep", "1000"])
        spec.linux?.namespaces?.append(LinuxNamespace(type: "user"))
        spec.linux?.uidMappings = [LinuxIDMapping(containerID: 0, hostID: 100_000, size: 65536)]
        spec.linux?.gidMappings = [LinuxIDMapping(containerID: 0, hostID: 100_000, size: 65536)]
        let container = try await Container.create(
            id: newID(), bundle: try XCTUnwrap(rootfs).bundle.path, spec: spec, engine: engine)
        try await container.start()
        let exec = try await container.exec(execID: "e1", process: Process(args: ["cat", "/proc/self/uid_map"], cwd: "/"))
        let status = await exec.wait()
        XCTAssertEqual(status, 0)
        let out = await Self.readAll(exec.stdio.stdout)
        XCTAssertEqual(out.split(whereSeparator: { $0 == " " || $0 == "\n" }), ["0", "100000", "65536"], out)
        try container.kill(signal: SIGKILL)
        _ = try await container.wait()
        try await container.delete(timeout: .seconds(10))
    }
}
