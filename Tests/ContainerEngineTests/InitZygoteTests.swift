@testable import ContainerEngine
import Foundation
import LinuxKit
import OCISpec
import XCTest

/// Container inits cloned by the warm zygote (InitZygote) must be indistinguishable from
/// re-executed ones, and a zygote that dies must cost time only, never a container.
final class InitZygoteTests: XCTestCase {
    var rootfs: BusyboxRootfs?
    var reaper: Reaper?

    override func setUpWithError() throws {
        try EngineTestSupport.requireRoot("containers need namespaces and mounts")
        rootfs = try BusyboxRootfs()
        reaper = try Reaper(mode: .registeredOnly)
    }

    override func tearDown() {
        reaper?.shutdown()
        rootfs?.remove()
    }

    private func makeEngine(useZygote: Bool = true, zygoteAnswerTimeoutMilliseconds: Int32 = 10_000) throws -> Engine {
        Engine(reaper: try XCTUnwrap(reaper), options: Engine.Options(
            initExecutable: try EngineTestSupport.agentBinary(), initTimeoutMilliseconds: 20_000, useZygote: useZygote,
            zygoteAnswerTimeoutMilliseconds: zygoteAnswerTimeoutMilliseconds))
    }

    private func newID() -> String { "zy-\(UUID().uuidString.prefix(8).lowercased())" }

    /// Runs `args` to the end; (status, stdout).
    private func run(_ engine: Engine, _ args: [String]) async throws -> (Int32, String) {
        let container = try await Container.create(
            id: newID(), bundle: try XCTUnwrap(rootfs).bundle.path, spec: TestSpecs.basic(args), engine: engine)
        try await container.start()
        let process = try container.process("")
        let status = try await container.wait()
        let out = await ContainerLifecycleTests.readAll(process.stdio.stdout)
        try await container.delete(timeout: .seconds(10))
        return (status, out)
    }

    private static func parentPid(of pid: pid_t) throws -> pid_t? {
        let status = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
        let line = status.split(separator: "\n").first { $0.hasPrefix("PPid:") }
        return line.flatMap { pid_t($0.dropFirst(5).trimmingCharacters(in: .whitespaces)) }
    }

    func testInitIsTheEnginesChildWithCleanFdsAndSignals() async throws {
        let engine = try makeEngine()
        let container = try await Container.create(
            id: newID(), bundle: try XCTUnwrap(rootfs).bundle.path,
            spec: TestSpecs.basic(["sh", "-c", "grep -E '^Sig(Ign|Blk)' /proc/self/status; ls /proc/self/fd"]),
            engine: engine)
        let zygote = try XCTUnwrap(engine.zygotePid, "no zygote after the first create")
        let initPid = try XCTUnwrap(container.pid)
        // CLONE_PARENT: the init is ours (the reaper can wait for it), not the zygote's.
        XCTAssertEqual(try Self.parentPid(of: initPid), getpid())
        XCTAssertEqual(try Self.parentPid(of: zygote), getpid())
        try await container.start()
        let process = try container.process("")
        let status = try await container.wait()
        let out = await ContainerLifecycleTests.readAll(process.stdio.stdout)
        try await container.delete(timeout: .seconds(10))
        XCTAssertEqual(status, 0, out)
        // Only stdio reaches the workload (ls's own directory fd is the 3), and no signal is
        // ignored or blocked.
        XCTAssertEqual(out, "SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n0\n1\n2\n3\n")
    }

    func testExecAndUserNamespaceThroughTheZygote() async throws {
        let engine = try makeEngine()
        var spec = TestSpecs.basic(["sleep", "1000"])
        spec.linux?.namespaces?.append(LinuxNamespace(type: "user"))
        spec.linux?.uidMappings = [LinuxIDMapping(containerID: 0, hostID: 100_000, size: 65536)]
        spec.linux?.gidMappings = [LinuxIDMapping(containerID: 0, hostID: 100_000, size: 65536)]
        let container = try await Container.create(id: newID(), bundle: try XCTUnwrap(rootfs).bundle.path, spec: spec, engine: engine)
        XCTAssertNotNil(engine.zygotePid)
        try await container.start()
        let exec = try await container.exec(execID: "e1", process: Process(args: ["sh", "-c", "cat /proc/self/uid_map; echo $$"], cwd: "/"))
        let status = await exec.wait()
        let out = await ContainerLifecycleTests.readAll(exec.stdio.stdout)
        XCTAssertEqual(status, 0, out)
        let fields = out.split(whereSeparator: \.isWhitespace)
        XCTAssertEqual(Array(fields.prefix(3)), ["0", "100000", "65536"], out)
        XCTAssertNotEqual(fields.last, "1", "the exec ran as the container's pid 1")
        try container.kill(signal: SIGKILL)
        _ = try await container.wait()
        try await container.delete(timeout: .seconds(10))
    }

    func testDeadZygoteFallsBackThenIsReplaced() async throws {
        let engine = try makeEngine()
        let (first, _) = try await run(engine, ["true"])
        XCTAssertEqual(first, 0)
        let dead = try XCTUnwrap(engine.zygotePid)
        try XCTUnwrap(reaper).signal(dead, SIGKILL)
        _ = try await XCTUnwrap(reaper).wait(dead)
        // This create finds the zygote gone, drops it and clones the init directly.
        let (second, out) = try await run(engine, ["echo", "fallback"])
        XCTAssertEqual(second, 0)
        XCTAssertEqual(out, "fallback\n")
        XCTAssertNil(engine.zygotePid, "the dead zygote is still in use")
        // The next one starts a new zygote.
        let (third, _) = try await run(engine, ["true"])
        XCTAssertEqual(third, 0)
        let replacement = try XCTUnwrap(engine.zygotePid)
        XCTAssertNotEqual(replacement, dead)
    }

    /// A zygote that took the request and never answered may have cloned an init holding the
    /// launch's descriptors: that launch fails (no second init on them), the next gets a new zygote.
    func testStuckZygoteFailsOneLaunchThenIsReplaced() async throws {
        let engine = try makeEngine(zygoteAnswerTimeoutMilliseconds: 300)
        try engine.prepare()
        let stuck = try XCTUnwrap(engine.zygotePid)
        XCTAssertEqual(kill(stuck, SIGSTOP), 0)
        do {
            _ = try await run(engine, ["true"])
            XCTFail("a launch through a stopped zygote succeeded")
        } catch let error as EngineError {
            XCTAssertTrue(error.description.contains("spawn container init"), error.description)
        }
        // The engine killed the stuck zygote (SIGKILL ends a stopped process too).
        let stuckStatus = try await XCTUnwrap(reaper).wait(stuck)
        XCTAssertEqual(stuckStatus, 128 + SIGKILL)
        XCTAssertEqual(engine.containerIDs, [])
        let (status, out) = try await run(engine, ["echo", "again"])
        XCTAssertEqual(status, 0)
        XCTAssertEqual(out, "again\n")
        let replacement = try XCTUnwrap(engine.zygotePid)
        XCTAssertNotEqual(replacement, stuck)
    }

    func testSwitchedOffMeansNoZygote() async throws {
        let engine = try makeEngine(useZygote: false)
        let (status, out) = try await run(engine, ["echo", "direct"])
        XCTAssertEqual(status, 0)
        XCTAssertEqual(out, "direct\n")
        XCTAssertNil(engine.zygotePid)
    }
}

/// The zygote's warm-up sample must keep decoding as the types change (a sample that stops
/// decoding would silently make every init cold again).
final class InitWarmUpTests: XCTestCase {
    func testSampleDecodesAndRoundTrips() throws {
        let message = try JSONDecoder().decode(SyncMessage.self, from: Data(InitWarmUp.sampleJSON.utf8))
        let config = try XCTUnwrap(message.config)
        XCTAssertEqual(config.mode, .create)
        XCTAssertFalse(config.spec.mounts?.isEmpty ?? true)
        XCTAssertNotNil(config.spec.linux?.seccomp)
        XCTAssertNotNil(config.spec.hooks?.createContainer)
        XCTAssertNotNil(config.process.capabilities)
        XCTAssertNotNil(message.state)
        // Shaped like what the agent sends, or the warm-up would warm the wrong types.
        XCTAssertEqual(config.spec, InitConfig.forInit(config.spec))
        XCTAssertTrue(InitWarmUp.run())
    }
}
