import Foundation
import GRPCCore
import KataProtocols
import XCTest

/// Root tests: busybox bundles through the real agent's gRPC API.
final class ContainerRPCTests: XCTestCase {
    var rootfs = ""

    override func setUpWithError() throws {
        guard getuid() == 0 else { throw XCTSkip("needs root: containers need namespaces and mounts") }
        rootfs = try ContainerRootfsFixture.make()
    }

    override func tearDown() {
        if !rootfs.isEmpty { try? FileManager.default.removeItem(atPath: (rootfs as NSString).deletingLastPathComponent) }
    }

    func spec(_ args: [String]) -> Grpc_Spec {
        ContainerRPCClient.spec(args, rootfs: rootfs)
    }

    func create(_ agent: AgentProcess, id: String, spec: Grpc_Spec, execID: String = "") async throws {
        var request = Grpc_CreateContainerRequest()
        request.containerID = id
        request.execID = execID
        request.oci = spec
        _ = try await agent.agentService.createContainer(request)
    }

    func readAll(_ agent: AgentProcess, id: String, exec: String = "", stderr: Bool = false) async throws -> String {
        var out = Data()
        while true {
            var request = Grpc_ReadStreamRequest()
            request.containerID = id
            request.execID = exec
            request.len = 4096
            let reply = stderr ? try await agent.agentService.readStderr(request) : try await agent.agentService.readStdout(request)
            if reply.data.isEmpty { break }
            out.append(reply.data)
        }
        return String(decoding: out, as: UTF8.self)
    }

    func testCreateStartReadWaitExecSignalRemove() async throws {
        let agent = try await AgentProcess.start(for: self)
        let id = "rpc-\(UUID().uuidString.prefix(8).lowercased())"
        // The runtime names the init by the exec_id it gives CreateContainer (here the container
        // id, as the Kata runtime does); the empty exec_id names it too.
        try await create(agent, id: id, spec: spec(["sh", "-c", "echo hello $$ $(hostname); echo oops >&2; read line; echo got $line; exit 7"]),
                         execID: id)
        var start = Grpc_StartContainerRequest()
        start.containerID = id
        _ = try await agent.agentService.startContainer(start)

        var exec = Grpc_ExecProcessRequest()
        exec.containerID = id
        exec.execID = "x1"
        var process = Grpc_Process()
        process.args = ["cat", "/proc/1/cmdline"]
        process.cwd = "/"
        exec.process = process
        _ = try await agent.agentService.execProcess(exec)
        var waitExec = Grpc_WaitProcessRequest()
        waitExec.containerID = id
        waitExec.execID = "x1"
        let execStatus = try await agent.agentService.waitProcess(waitExec)
        XCTAssertEqual(execStatus.status, 0)
        let execOut = try await readAll(agent, id: id, exec: "x1")
        XCTAssertTrue(execOut.hasPrefix("sh\u{0}-c\u{0}"), execOut)

        var write = Grpc_WriteStreamRequest()
        write.containerID = id
        write.data = Data("ping\n".utf8)
        let written = try await agent.agentService.writeStdin(write)
        XCTAssertEqual(written.len, 5)
        var wait = Grpc_WaitProcessRequest()
        wait.containerID = id
        wait.execID = id
        let status = try await agent.agentService.waitProcess(wait)
        XCTAssertEqual(status.status, 7)
        let out = try await readAll(agent, id: id, exec: id)
        XCTAssertEqual(out, "hello 1 rpc-box\ngot ping\n")
        let err = try await readAll(agent, id: id, stderr: true)
        XCTAssertEqual(err, "oops\n")

        var signal = Grpc_SignalProcessRequest()
        signal.containerID = id
        signal.signal = 9
        _ = try await agent.agentService.signalProcess(signal)  // exited already: not an error

        var remove = Grpc_RemoveContainerRequest()
        remove.containerID = id
        remove.timeout = 10
        _ = try await agent.agentService.removeContainer(remove)
        XCTAssertFalse(FileManager.default.fileExists(atPath: "/sys/fs/cgroup/pids/\(id)"))
        do {
            _ = try await agent.agentService.waitProcess(wait)
            XCTFail("wait on a removed container succeeded")
        } catch let error as RPCError {
            XCTAssertEqual(error.code, .notFound)
        }
    }

    func testSignalStopsRunningContainer() async throws {
        let agent = try await AgentProcess.start(for: self)
        let id = "rpc-\(UUID().uuidString.prefix(8).lowercased())"
        try await create(agent, id: id, spec: spec(["sleep", "1000"]))
        var start = Grpc_StartContainerRequest()
        start.containerID = id
        _ = try await agent.agentService.startContainer(start)
        var signal = Grpc_SignalProcessRequest()
        signal.containerID = id
        signal.signal = 9
        _ = try await agent.agentService.signalProcess(signal)
        var wait = Grpc_WaitProcessRequest()
        wait.containerID = id
        let status = try await agent.agentService.waitProcess(wait)
        XCTAssertEqual(status.status, 137)
        var remove = Grpc_RemoveContainerRequest()
        remove.containerID = id
        _ = try await agent.agentService.removeContainer(remove)
    }

    func testBadRequestsAnswerWithTheField() async throws {
        let agent = try await AgentProcess.start(for: self)
        var missingBinary = spec(["no-such-binary"])
        missingBinary.hostname = "x"
        var missingRoot = spec(["true"])
        missingRoot.root.path = "/no/such/rootfs"
        var badMount = spec(["true"])
        var mount = Grpc_Mount()
        mount.destination = "/x"
        mount.type = "nosuchfs"
        badMount.mounts.append(mount)
        let cases: [(Grpc_Spec, String, RPCError.Code)] = [
            (missingBinary, "no-such-binary", .invalidArgument), (missingRoot, "root.path", .invalidArgument),
            (badMount, "nosuchfs", .invalidArgument), (spec([]), "oci.process.args", .invalidArgument),
        ]
        for (spec, needle, code) in cases {
            let id = "bad-\(UUID().uuidString.prefix(8).lowercased())"
            do {
                try await create(agent, id: id, spec: spec)
                XCTFail("create succeeded for \(needle)")
            } catch let error as RPCError {
                XCTAssertEqual(error.code, code, error.message)
                XCTAssertTrue(error.message.contains(needle), "\(needle): \(error.message)")
            }
            XCTAssertFalse(FileManager.default.fileExists(atPath: "/sys/fs/cgroup/pids/\(id)"), "cgroup left behind for \(needle)")
        }
        // What this agent does not serve is refused by name, not skipped: passfd stdio (the
        // process's I/O would never arrive) and runtime-rs's shared_mounts.
        var passfd = Grpc_CreateContainerRequest()
        passfd.containerID = "passfd-\(UUID().uuidString.prefix(8).lowercased())"
        passfd.oci = spec(["true"])
        passfd.stdoutPort = 1027
        await assertRPCError(.unimplemented, containing: "stdout_port") { try await agent.agentService.createContainer(passfd) }
        var shared = passfd
        shared.stdoutPort = 0
        shared.sharedMounts = [Grpc_SharedMount()]
        await assertRPCError(.unimplemented, containing: "shared_mounts") { try await agent.agentService.createContainer(shared) }
        var exec = Grpc_ExecProcessRequest()
        exec.containerID = passfd.containerID
        exec.execID = "e1"
        exec.process = passfd.oci.process
        exec.stdinPort = 1027
        await assertRPCError(.unimplemented, containing: "stdin_port") { try await agent.agentService.execProcess(exec) }

        var start = Grpc_StartContainerRequest()
        start.containerID = "../etc"
        do {
            _ = try await agent.agentService.startContainer(start)
            XCTFail("start accepted a bad id")
        } catch let error as RPCError {
            XCTAssertEqual(error.code, .invalidArgument)
            XCTAssertTrue(error.message.contains("container_id"), error.message)
        }
    }

    func testPauseResumeStatsUpdate() async throws {
        let agent = try await AgentProcess.start(for: self)
        let id = "rpc-\(UUID().uuidString.prefix(8).lowercased())"
        try await create(agent, id: id, spec: spec(["sleep", "1000"]))
        var start = Grpc_StartContainerRequest()
        start.containerID = id
        _ = try await agent.agentService.startContainer(start)

        var pause = Grpc_PauseContainerRequest()
        pause.containerID = id
        _ = try await agent.agentService.pauseContainer(pause)
        let frozen = try String(contentsOfFile: "/sys/fs/cgroup/freezer/\(id)/freezer.state", encoding: .utf8)
        XCTAssertEqual(frozen.trimmingCharacters(in: .whitespacesAndNewlines), "FROZEN")
        var resume = Grpc_ResumeContainerRequest()
        resume.containerID = id
        _ = try await agent.agentService.resumeContainer(resume)

        var update = Grpc_UpdateContainerRequest()
        update.containerID = id
        var resources = Grpc_LinuxResources()
        var pids = Grpc_LinuxPids()
        pids.limit = 42
        resources.pids = pids
        update.resources = resources
        _ = try await agent.agentService.updateContainer(update)
        let limit = try String(contentsOfFile: "/sys/fs/cgroup/pids/\(id)/pids.max", encoding: .utf8)
        XCTAssertEqual(limit.trimmingCharacters(in: .whitespacesAndNewlines), "42")

        var stats = Grpc_StatsContainerRequest()
        stats.containerID = id
        let reply = try await agent.agentService.statsContainer(stats)
        XCTAssertEqual(reply.cgroupStats.pidsStats.current, 1)
        XCTAssertEqual(reply.cgroupStats.pidsStats.limit, 42)

        var remove = Grpc_RemoveContainerRequest()
        remove.containerID = id
        remove.timeout = 10
        _ = try await agent.agentService.removeContainer(remove)
        XCTAssertFalse(FileManager.default.fileExists(atPath: "/sys/fs/cgroup/freezer/\(id)"))
    }
}

/// A busybox rootfs in a temp directory (Debian's busybox-static plus applet links).
enum ContainerRootfsFixture {
    static func make() throws -> String {
        let busybox = "/bin/busybox"
        guard FileManager.default.isExecutableFile(atPath: busybox) else {
            throw XCTSkip("busybox-static is not installed (make deps installs it)")
        }
        let bundle = "/tmp/kata-rpc-bundle-\(UUID().uuidString.prefix(8))"
        let root = bundle + "/rootfs"
        let fm = FileManager.default
        for dir in ["bin", "proc", "dev", "etc", "tmp"] {
            try fm.createDirectory(atPath: root + "/" + dir, withIntermediateDirectories: true)
        }
        try fm.copyItem(atPath: busybox, toPath: root + "/bin/busybox")
        for applet in ["sh", "echo", "cat", "sleep", "hostname", "true", "id", "ls"] {
            try fm.createSymbolicLink(atPath: root + "/bin/" + applet, withDestinationPath: "busybox")
        }
        return root
    }
}
