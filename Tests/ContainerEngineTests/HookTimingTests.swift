import ContainerEngine
import Foundation
import LinuxKit
import OCISpec
import XCTest

/// Root tests: each OCI hook kind runs in the namespaces and at the moment config.md's
/// "POSIX-platform Hooks" and runc give it (see HookProbe for what each hook records), and a
/// failing createContainer / startContainer hook fails its step and leaves no process, mount
/// namespace or cgroup behind.
final class HookTimingTests: XCTestCase {
    var rootfs: BusyboxRootfs?
    var reaper: Reaper?
    var engine: Engine?
    var logDirectory = ""

    override func setUpWithError() throws {
        try EngineTestSupport.requireRoot("containers need namespaces and mounts")
        let agent = try EngineTestSupport.agentBinary()
        let rootfs = try BusyboxRootfs()
        self.rootfs = rootfs
        XCTAssertTrue(FileManager.default.createFile(atPath: rootfs.rootfs + "/" + HookProbe.marker, contents: Data()))
        let reaper = try Reaper(mode: .registeredOnly)
        self.reaper = reaper
        engine = Engine(reaper: reaper, options: Engine.Options(initExecutable: agent, initTimeoutMilliseconds: 20_000))
        logDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("hook-timing-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: logDirectory, withIntermediateDirectories: true)
    }

    override func tearDown() async throws {
        if let engine {
            for id in engine.containerIDs {
                try? await engine.container(id).delete(timeout: .seconds(10))
            }
        }
        reaper?.shutdown()
        rootfs?.remove()
        try? FileManager.default.removeItem(atPath: logDirectory)
    }

    func newID() -> String { "hooks-\(UUID().uuidString.prefix(8).lowercased())" }

    func spec(_ args: [String], id: String) throws -> Spec {
        var spec = TestSpecs.basic(args)
        spec.mounts?.append(HookProbe.logMount(logDirectory))
        spec.linux?.cgroupsPath = "/kata-hooktest-\(id)"
        return spec
    }

    /// The container's cgroup directories that exist (one per hierarchy that has it).
    func cgroupDirectories(_ id: String) -> [String] {
        let base = "/sys/fs/cgroup"
        let hierarchies = ((try? FileManager.default.contentsOfDirectory(atPath: base)) ?? []).map { base + "/" + $0 }
        return ([base] + hierarchies).map { $0 + "/kata-hooktest-\(id)" }.filter { path in
            var isDirectory: ObjCBool = false
            return FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && isDirectory.boolValue
        }
    }

    /// Waits (with a deadline) until no live process is left in the namespace.
    func assertNamespaceEmpty(_ link: String, _ type: String, _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        let deadline = Date().addingTimeInterval(10)
        var left = HookProbe.processes(inNamespace: link, type: type)
        while !left.isEmpty && Date() < deadline {
            usleep(20_000)
            left = HookProbe.processes(inNamespace: link, type: type)
        }
        XCTAssertEqual(left, [], "\(what): processes left in \(link)", file: file, line: line)
    }

    func testEachHookKindRunsInItsNamespaceAtItsMoment() async throws {
        let engine = try XCTUnwrap(self.engine)
        let rootfs = try XCTUnwrap(self.rootfs)
        let id = newID()
        var spec = try spec(["sh", "-c", "echo workload >> \(HookProbe.containerLogDirectory)/\(HookProbe.logName)"], id: id)
        spec.hooks = HookProbe.hooks(hostLogDirectory: logDirectory, rootfs: rootfs.rootfs)
        let runtimeMnt = HookProbe.namespace("self", "mnt")
        let runtimePidNS = HookProbe.namespace("self", "pid")

        let container = try await Container.create(id: id, bundle: rootfs.bundle.path, spec: spec, engine: engine)
        let initPid = try XCTUnwrap(container.pid)
        let containerMnt = HookProbe.namespace("\(initPid)", "mnt")
        let containerPidNS = HookProbe.namespace("\(initPid)", "pid")
        XCTAssertNotEqual(containerMnt, runtimeMnt)
        XCTAssertNotEqual(containerPidNS, runtimePidNS)
        XCTAssertFalse(cgroupDirectories(id).isEmpty, "the container's cgroup exists while it does")

        // Create: exactly the create-time hooks, in order, all with status "creating".
        var lines = HookProbe.read(logDirectory)
        XCTAssertEqual(lines.map(\.kind), ["prestart", "createRuntime", "createContainer"])
        for line in lines.prefix(2) {
            // Runtime namespace, before the pivot, after the container's namespaces exist.
            XCTAssertEqual(line.fields["mnt"], runtimeMnt, "\(line)")
            XCTAssertEqual(line.fields["pidns"], runtimePidNS, "\(line)")
            XCTAssertEqual(line.fields["root"], "runtime", "\(line)")
            XCTAssertEqual(line.fields["mounts"], "absent", "\(line)")
            XCTAssertEqual(line.fields["status"], "creating", "\(line)")
            XCTAssertEqual(line.fields["statepid"], "\(initPid)", "\(line)")
            XCTAssertEqual(line.fields["statemnt"], containerMnt, "\(line)")
            XCTAssertEqual(line.fields["statepidns"], containerPidNS, "\(line)")
        }
        if let createContainer = lines.dropFirst(2).first {
            // Container namespaces, mounts in place, not yet pivoted.
            XCTAssertEqual(createContainer.fields["mnt"], containerMnt, "\(createContainer)")
            XCTAssertEqual(createContainer.fields["pidns"], containerPidNS, "\(createContainer)")
            XCTAssertEqual(createContainer.fields["root"], "runtime", "\(createContainer)")
            XCTAssertEqual(createContainer.fields["mounts"], "visible", "\(createContainer)")
            XCTAssertEqual(createContainer.fields["status"], "creating", "\(createContainer)")
            XCTAssertEqual(createContainer.fields["statepid"], "\(initPid)", "\(createContainer)")
        }

        // Start: startContainer in the container, pivoted, while pid 1 is still our init (the
        // workload not yet exec'd); poststart in the runtime namespace before start returns.
        try await container.start()
        let status = try await container.wait()
        XCTAssertEqual(status, 0)
        lines = HookProbe.read(logDirectory)
        XCTAssertEqual(Array(lines.map(\.kind).prefix(4)), ["prestart", "createRuntime", "createContainer", "startContainer"])
        XCTAssertEqual(Set(lines.map(\.kind).dropFirst(4)), ["workload", "poststart"])
        if let startContainer = lines.dropFirst(3).first {
            XCTAssertEqual(startContainer.fields["mnt"], containerMnt, "\(startContainer)")
            XCTAssertEqual(startContainer.fields["pidns"], containerPidNS, "\(startContainer)")
            XCTAssertEqual(startContainer.fields["root"], "container", "\(startContainer)")
            XCTAssertEqual(startContainer.fields["status"], "created", "\(startContainer)")
            XCTAssertEqual(startContainer.fields["statepid"], "\(initPid)", "\(startContainer)")
            XCTAssertEqual(startContainer.fields["pid1"], "kata-agent_init_", "\(startContainer)")
        }
        if let poststart = lines.first(where: { $0.kind == "poststart" }) {
            XCTAssertEqual(poststart.fields["mnt"], runtimeMnt, "\(poststart)")
            XCTAssertEqual(poststart.fields["pidns"], runtimePidNS, "\(poststart)")
            XCTAssertEqual(poststart.fields["root"], "runtime", "\(poststart)")
            XCTAssertEqual(poststart.fields["status"], "running", "\(poststart)")
            XCTAssertEqual(poststart.fields["statepid"], "\(initPid)", "\(poststart)")
        }

        // Delete: poststop last, in the runtime namespace, once the container is gone.
        try await container.delete(timeout: .seconds(10))
        lines = HookProbe.read(logDirectory)
        XCTAssertEqual(lines.last?.kind, "poststop")
        XCTAssertEqual(lines.count, 7)
        if let poststop = lines.last {
            XCTAssertEqual(poststop.fields["mnt"], runtimeMnt, "\(poststop)")
            XCTAssertEqual(poststop.fields["pidns"], runtimePidNS, "\(poststop)")
            XCTAssertEqual(poststop.fields["status"], "stopped", "\(poststop)")
        }
        XCTAssertEqual(cgroupDirectories(id), [])
    }

    func testAFailingCreateContainerHookFailsCreateAndLeavesNothingBehind() async throws {
        let engine = try XCTUnwrap(self.engine)
        let rootfs = try XCTUnwrap(self.rootfs)
        let id = newID()
        var spec = try spec(["sleep", "100"], id: id)
        // Records its namespaces, leaves a background process in its group, then fails.
        let record = "readlink /proc/self/ns/pid > \(logDirectory)/pidns; readlink /proc/self/ns/mnt > \(logDirectory)/mntns"
        spec.hooks = Hooks(createContainer: [
            Hook(path: "/bin/sh", args: ["sh", "-c", "\(record); sleep 300 & echo boom >&2; exit 3"], env: HookProbe.environment),
        ])
        do {
            _ = try await Container.create(id: id, bundle: rootfs.bundle.path, spec: spec, engine: engine)
            XCTFail("create succeeded with a failing createContainer hook")
        } catch let error as EngineError {
            XCTAssertTrue(error.description.contains("createContainer") && error.description.contains("exit status 3")
                          && error.description.contains("boom"), error.description)
        }
        XCTAssertEqual(engine.containerIDs, [])
        let pidNS = try String(contentsOfFile: logDirectory + "/pidns", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        let mntNS = try String(contentsOfFile: logDirectory + "/mntns", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertNotEqual(mntNS, HookProbe.namespace("self", "mnt"), "the hook ran in the container's mount namespace")
        assertNamespaceEmpty(pidNS, "pid", "failed createContainer hook")
        assertNamespaceEmpty(mntNS, "mnt", "failed createContainer hook")
        XCTAssertEqual(cgroupDirectories(id), [])
        let mountinfo = try String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8)
        XCTAssertFalse(mountinfo.contains(rootfs.rootfs), "a container mount leaked into the runtime namespace")
    }

    func testAFailingStartContainerHookFailsStartAndLeavesNothingBehind() async throws {
        let engine = try XCTUnwrap(self.engine)
        let rootfs = try XCTUnwrap(self.rootfs)
        let id = newID()
        let log = HookProbe.containerLogDirectory + "/" + HookProbe.logName
        var spec = try spec(["sh", "-c", "echo workload >> \(log)"], id: id)
        spec.hooks = Hooks(startContainer: [
            Hook(path: "/bin/sh", args: ["sh", "-c", "sleep 300 & echo started >> \(log); exit 4"], env: HookProbe.environment),
        ])
        let container = try await Container.create(id: id, bundle: rootfs.bundle.path, spec: spec, engine: engine)
        let initPid = try XCTUnwrap(container.pid)
        let pidNS = HookProbe.namespace("\(initPid)", "pid")
        let mntNS = HookProbe.namespace("\(initPid)", "mnt")
        do {
            try await container.start()
            XCTFail("start succeeded with a failing startContainer hook")
        } catch let error as EngineError {
            XCTAssertTrue(error.description.contains("startContainer") && error.description.contains("exit status 4"), error.description)
        }
        // The init exits instead of exec'ing the workload: the container is stopped.
        _ = try await container.wait()
        XCTAssertEqual(container.status, .stopped)
        let lines = try String(contentsOfFile: logDirectory + "/" + HookProbe.logName, encoding: .utf8)
        XCTAssertEqual(lines, "started\n", "the hook ran, the workload did not")
        assertNamespaceEmpty(pidNS, "pid", "failed startContainer hook")
        assertNamespaceEmpty(mntNS, "mnt", "failed startContainer hook")
        try await container.delete(timeout: .seconds(10))
        XCTAssertEqual(engine.containerIDs, [])
        XCTAssertEqual(cgroupDirectories(id), [])
    }

    /// In a shared pid namespace the init's death does not end the hook's children. Two things
    /// do: the init kills a failed hook's process group, and removing the container's cgroup
    /// kills what is left in it (either alone passes this test; it checks the outcome).
    func testAFailedCreateContainerHooksChildrenDieInASharedPidNamespace() async throws {
        let engine = try XCTUnwrap(self.engine)
        let rootfs = try XCTUnwrap(self.rootfs)
        let first = try await Container.create(id: newID(), bundle: rootfs.bundle.path, spec: try spec(["sleep", "100"], id: newID()), engine: engine)
        try await first.start()
        let firstPid = try XCTUnwrap(first.pid)
        let id = newID()
        var spec = try spec(["true"], id: id)
        let namespaces = spec.linux?.namespaces ?? []
        spec.linux?.namespaces = namespaces.map { namespace in
            namespace.type == "pid" ? LinuxNamespace(type: "pid", path: "/proc/\(firstPid)/ns/pid") : namespace
        }
        let token = "hook-child-\(UUID().uuidString.prefix(8))"
        spec.hooks = Hooks(createContainer: [
            Hook(path: "/bin/sh", args: ["sh", "-c", "sh -c 'sleep 300; : \(token)' & exit 5"], env: HookProbe.environment),
        ])
        do {
            _ = try await Container.create(id: id, bundle: rootfs.bundle.path, spec: spec, engine: engine)
            XCTFail("create succeeded with a failing createContainer hook")
        } catch let error as EngineError {
            XCTAssertTrue(error.description.contains("createContainer") && error.description.contains("exit status 5"), error.description)
        }
        func withToken() -> [String] {
            ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).filter { entry in
                guard Int32(entry) != nil, let data = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline") else { return false }
                let stat = (try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8)) ?? ""
                return String(decoding: data, as: UTF8.self).contains(token) && !stat.contains(") Z ")
            }
        }
        let deadline = Date().addingTimeInterval(10)
        var left = withToken()
        while !left.isEmpty && Date() < deadline {
            usleep(20_000)
            left = withToken()
        }
        XCTAssertEqual(left, [], "the failed hook's child survived in the shared pid namespace")
        XCTAssertEqual(cgroupDirectories(id), [])
        try first.kill(signal: SIGKILL)
        _ = try await first.wait()
        try await first.delete(timeout: .seconds(10))
    }

    func testAHookThatOutlivesItsTimeoutInTheContainerIsKilled() async throws {
        let engine = try XCTUnwrap(self.engine)
        let rootfs = try XCTUnwrap(self.rootfs)
        let id = newID()
        var spec = try spec(["true"], id: id)
        spec.hooks = Hooks(createContainer: [Hook(path: "/bin/sh", args: ["sh", "-c", "sleep 300"], env: HookProbe.environment, timeout: 1)])
        do {
            _ = try await Container.create(id: id, bundle: rootfs.bundle.path, spec: spec, engine: engine)
            XCTFail("create succeeded with a createContainer hook that timed out")
        } catch let error as EngineError {
            XCTAssertTrue(error.description.contains("createContainer") && error.description.contains("timed out"), error.description)
        }
        XCTAssertEqual(engine.containerIDs, [])
        XCTAssertEqual(cgroupDirectories(id), [])
    }
}
