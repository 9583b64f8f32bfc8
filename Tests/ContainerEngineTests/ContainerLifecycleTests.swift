import ContainerEngine
import Foundation
import LinuxKit
import OCISpec
import XCTest

/// Root tests that run busybox bundles through the engine directly.
final class ContainerLifecycleTests: XCTestCase {
    var rootfs: BusyboxRootfs?
    var reaper: Reaper?
    var engine: Engine?

    override func setUpWithError() throws {
        try EngineTestSupport.requireRoot("containers need namespaces and mounts")
        let agent = try EngineTestSupport.agentBinary()
        let rootfs = try BusyboxRootfs()
        self.rootfs = rootfs
        let reaper = try Reaper(mode: .registeredOnly)
        self.reaper = reaper
        engine = Engine(reaper: reaper, options: Engine.Options(initExecutable: agent, initTimeoutMilliseconds: 20_000))
    }

    override func tearDown() async throws {
        if let engine {
            for id in engine.containerIDs {
                try? await engine.container(id).delete(timeout: .seconds(10))
            }
        }
        reaper?.shutdown()
        rootfs?.remove()
    }

    func newID() -> String { "ce-\(UUID().uuidString.prefix(8).lowercased())" }

    /// Create, start, collect all output and the exit status.
    func run(_ spec: Spec, id: String? = nil) async throws -> (status: Int32, stdout: String, stderr: String) {
        let engine = try XCTUnwrap(self.engine)
        let bundle = try XCTUnwrap(rootfs).bundle.path
        let container = try await Container.create(id: id ?? newID(), bundle: bundle, spec: spec, engine: engine)
        try await container.start()
        let process = try container.process("")
        let status = try await container.wait()
        let out = await Self.readAll(process.stdio.stdout)
        let err = await Self.readAll(process.stdio.stderr)
        try await container.delete(timeout: .seconds(10))
        return (status, out, err)
    }

    static func readAll(_ buffer: OutputBuffer) async -> String {
        var data = Data()
        while true {
            let chunk = await buffer.read(maxBytes: 65536)
            if chunk.isEmpty { break }
            data.append(chunk)
        }
        return String(decoding: data, as: UTF8.self)
    }

    func testOutputExitStatusAndPid1() async throws {
        let result = try await run(TestSpecs.basic(["sh", "-c", "echo out $$; echo err >&2; exit 3"]))
        XCTAssertEqual(result.status, 3)
        XCTAssertEqual(result.stdout, "out 1\n")
        XCTAssertEqual(result.stderr, "err\n")
    }

    func testHostnameCwdEnv() async throws {
        var spec = TestSpecs.basic(["sh", "-c", "hostname; pwd; echo $FOO"], hostname: "box1")
        spec.process?.cwd = "/tmp/work"
        spec.process?.env?.append("FOO=bar")
        let result = try await run(spec)
        XCTAssertEqual(result.stdout, "box1\n/tmp/work\nbar\n")
        XCTAssertEqual(result.status, 0)
    }

    func testUserGroupsAndRlimits() async throws {
        var spec = TestSpecs.basic(["sh", "-c", "id -u; id -g; id -G; ulimit -n; umask"])
        spec.process?.user = User(uid: 1000, gid: 1000, umask: 0o027, additionalGids: [10, 20])
        spec.process?.rlimits = [POSIXRlimit(type: "RLIMIT_NOFILE", hard: 321, soft: 123)]
        let result = try await run(spec)
        XCTAssertEqual(result.stdout, "1000\n1000\n1000 10 20\n123\n0027\n", result.stderr)
    }

    func testReadonlyRootAndMaskedPaths() async throws {
        var spec = TestSpecs.basic(["sh", "-c", "touch /x 2>/dev/null && echo writable || echo readonly; cat /proc/kcore | wc -c; echo 1 > /proc/sys/kernel/ostype 2>/dev/null && echo sysrw || echo sysro"])
        spec.root?.readonly = true
        let result = try await run(spec)
        XCTAssertEqual(result.stdout, "readonly\n0\nsysro\n", result.stderr)
    }

    func testStdinRoundTrip() async throws {
        let engine = try XCTUnwrap(self.engine)
        let container = try await Container.create(id: newID(), bundle: try XCTUnwrap(rootfs).bundle.path,
                                                   spec: TestSpecs.basic(["cat"]), engine: engine)
        try await container.start()
        let process = try container.process("")
        _ = try await process.stdio.write(Data("hello\n".utf8))
        _ = try await process.stdio.write(Data("world\n".utf8))
        process.stdio.closeStdin()
        let status = try await container.wait()
        XCTAssertEqual(status, 0)
        let out = await Self.readAll(process.stdio.stdout)
        XCTAssertEqual(out, "hello\nworld\n")
        try await container.delete()
    }

    func testTerminal() async throws {
        var spec = TestSpecs.basic(["sh", "-c", "[ -t 0 ] && [ -t 1 ] && echo tty; stty size"])
        spec.process?.terminal = true
        spec.process?.consoleSize = Box(height: 33, width: 99)
        let result = try await run(spec)
        XCTAssertEqual(result.stdout.replacingOccurrences(of: "\r", with: ""), "tty\n33 99\n")
    }

    func testExecSignalAndDelete() async throws {
        let engine = try XCTUnwrap(self.engine)
        let id = newID()
        let container = try await Container.create(id: id, bundle: try XCTUnwrap(rootfs).bundle.path,
                                                   spec: TestSpecs.basic(["sleep", "1000"]), engine: engine)
        XCTAssertEqual(container.status, .created)
        try await container.start()
        XCTAssertEqual(container.status, .running)
        let exec = try await container.exec(execID: "e1", process: Process(args: ["sh", "-c", "echo $$ $(hostname); cat /proc/1/cmdline"], cwd: "/"))
        let execStatus = await exec.wait()
        XCTAssertEqual(execStatus, 0)
        let out = await Self.readAll(exec.stdio.stdout)
        XCTAssertTrue(out.hasSuffix(" kata-test\nsleep\u{0}1000\u{0}"), out)
        XCTAssertFalse(out.hasPrefix("1 "), "an exec'd process is not the container's pid 1")
        do {
            _ = try await container.exec(execID: "e2", process: Process(args: ["/no/such/binary"], cwd: "/"))
            XCTFail("exec of a missing binary succeeded")
        } catch let error as EngineError {
            XCTAssertEqual(error.kind, .invalidSpec)
            XCTAssertTrue(error.description.contains("/no/such/binary"), error.description)
        }
        // SIGTERM would be ignored: a pid namespace's init has no default-action signals.
        try container.kill(signal: SIGKILL)
        let status = try await container.wait()
        XCTAssertEqual(status, 128 + SIGKILL)
        try await container.delete(timeout: .seconds(10))
        XCTAssertThrowsError(try engine.container(id))
        XCTAssertFalse(FileManager.default.fileExists(atPath: "/sys/fs/cgroup/memory/\(id)"))
        XCTAssertFalse(FileManager.default.fileExists(atPath: "/sys/fs/cgroup/pids/\(id)"))
    }

    func testMissingBinaryFailsCreateWithoutLeftovers() async throws {
        let engine = try XCTUnwrap(self.engine)
        let id = newID()
        // What lives as long as the engine or the process (the sealed init copy, the zygote's
        // socket, the output pump's wake pipe, dispatch's timers for the polling below) must
        // exist before counting: one container and one sleep first.
        _ = try await run(TestSpecs.basic(["true"]))
        try await Task.sleep(for: .milliseconds(20))
        let fdsBefore = try FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count
        let linksBefore = Self.fdLinks()
        do {
            _ = try await Container.create(id: id, bundle: try XCTUnwrap(rootfs).bundle.path,
                                           spec: TestSpecs.basic(["no-such-command"]), engine: engine)
            XCTFail("create succeeded")
        } catch let error as EngineError {
            XCTAssertEqual(error.kind, .invalidSpec)
            XCTAssertTrue(error.description.contains("no-such-command"), error.description)
        }
        XCTAssertEqual(engine.containerIDs, [])
        XCTAssertFalse(FileManager.default.fileExists(atPath: "/sys/fs/cgroup/pids/\(id)"))
        XCTAssertFalse(try String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8).contains(id))
        // Output fds close asynchronously in the pump once drained: wait for them, with a deadline.
        let deadline = Date().addingTimeInterval(10)
        var fdsAfter = try FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count
        while fdsAfter > fdsBefore && Date() < deadline {
            try await Task.sleep(for: .milliseconds(20))
            fdsAfter = try FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count
        }
        XCTAssertLessThanOrEqual(fdsAfter, fdsBefore, "new: \(Self.fdLinks().subtracting(linksBefore).sorted())")
    }

    static func fdLinks() -> Set<String> {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
        return Set(names.compactMap { name in
            (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/\(name)")).map { "\(name) -> \($0)" }
        })
    }

    func testBadSpecsAreRejectedNamingTheField() async throws {
        let engine = try XCTUnwrap(self.engine)
        let bundle = try XCTUnwrap(rootfs).bundle.path
        var missingRoot = TestSpecs.basic(["true"])
        missingRoot.root = Root(path: "/no/such/rootfs")
        var badMount = TestSpecs.basic(["true"])
        badMount.mounts?.append(Mount(destination: "/x", type: "nosuchfs", source: "none"))
        var badCap = TestSpecs.basic(["true"])
        badCap.process?.capabilities = LinuxCapabilities(bounding: ["CAP_NOT_A_THING"])
        var badSeccomp = TestSpecs.basic(["true"])
        badSeccomp.linux?.seccomp = LinuxSeccomp(defaultAction: "SCMP_ACT_BOGUS")
        var badSysctl = TestSpecs.basic(["true"])
        badSysctl.linux?.sysctl = ["kernel.hostname": "x"]
        let cases: [(Spec, String)] = [
            (missingRoot, "root.path"), (badMount, "mounts[6].type"), (badCap, "process.capabilities"),
            (badSeccomp, "linux.seccomp"), (badSysctl, "kernel.hostname"),
        ]
        for (spec, field) in cases {
            do {
                _ = try await Container.create(id: newID(), bundle: bundle, spec: spec, engine: engine)
                XCTFail("create succeeded for a bad \(field)")
            } catch let error as EngineError {
                XCTAssertEqual(error.kind, .invalidSpec, error.description)
                XCTAssertTrue(error.description.contains(field), "\(field): \(error.description)")
            }
        }
        XCTAssertEqual(engine.containerIDs, [])
    }

    func testUserNamespaceMapsIDs() async throws {
        var spec = TestSpecs.basic(["sh", "-c", "cat /proc/self/uid_map; id -u"])
        spec.linux?.namespaces?.append(LinuxNamespace(type: "user"))
        spec.linux?.uidMappings = [LinuxIDMapping(containerID: 0, hostID: 100_000, size: 65536)]
        spec.linux?.gidMappings = [LinuxIDMapping(containerID: 0, hostID: 100_000, size: 65536)]
        let result = try await run(spec)
        let fields = result.stdout.split(whereSeparator: { $0 == " " || $0 == "\n" })
        XCTAssertEqual(fields, ["0", "100000", "65536", "0"], result.stderr)
    }

    func testHooksRunWithStateAndAFailingHookFailsCreate() async throws {
        let engine = try XCTUnwrap(self.engine)
        let bundle = try XCTUnwrap(rootfs).bundle.path
        let log = bundle + "/hooks.log"
        func hook(_ name: String) -> Hook {
            Hook(path: "/bin/sh", args: ["sh", "-c", "read s; echo \(name) $s >> \(log)"])
        }
        var spec = TestSpecs.basic(["true"])
        spec.hooks = Hooks(prestart: [hook("prestart")], poststart: [hook("poststart")], poststop: [hook("poststop")])
        let id = newID()
        let container = try await Container.create(id: id, bundle: bundle, spec: spec, engine: engine)
        try await container.start()
        _ = try await container.wait()
        try await container.delete(timeout: .seconds(10))
        let lines = try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(lines.map { $0.split(separator: " ").first ?? "" }, ["prestart", "poststart", "poststop"])
        XCTAssertTrue(lines.first?.contains("\"id\":\"\(id)\"") ?? false, String(lines.first ?? ""))

        var failing = TestSpecs.basic(["sleep", "100"])
        failing.hooks = Hooks(prestart: [Hook(path: "/bin/sh", args: ["sh", "-c", "exit 3"])])
        let badID = newID()
        do {
            _ = try await Container.create(id: badID, bundle: bundle, spec: failing, engine: engine)
            XCTFail("create succeeded with a failing prestart hook")
        } catch let error as EngineError {
            XCTAssertTrue(error.description.contains("prestart"), error.description)
        }
        XCTAssertEqual(engine.containerIDs, [])
        XCTAssertFalse(FileManager.default.fileExists(atPath: "/sys/fs/cgroup/pids/\(badID)"))
    }
}
