import Foundation
import GRPCCore
import KataProtocols
import XCTest

/// Container RPCs against a real agent in a few lines each, for the pod, OOM and tty tests.
/// Every call carries a deadline so a wedged agent fails the test instead of hanging it.
struct ContainerRPCClient {
    let agent: AgentProcess
    let rootfs: String

    /// A busybox rootfs with the applets these tests need beyond the base fixture's.
    static func rootfs(extraApplets: [String] = ["readlink", "ps", "stty", "head", "tr", "tail", "sh"]) throws -> String {
        let root = try ContainerRootfsFixture.make()
        for applet in extraApplets where !FileManager.default.fileExists(atPath: root + "/bin/" + applet) {
            try FileManager.default.createSymbolicLink(atPath: root + "/bin/" + applet, withDestinationPath: "busybox")
        }
        return root
    }

    static func removeRootfs(_ rootfs: String) {
        guard !rootfs.isEmpty else { return }
        try? FileManager.default.removeItem(atPath: (rootfs as NSString).deletingLastPathComponent)
    }

    static func uniqueID(_ prefix: String) -> String {
        "\(prefix)-\(UUID().uuidString.prefix(8).lowercased())"
    }

    static var options: CallOptions { AgentProcess.callOptions(seconds: 30) }

    /// `Self.spec` on this client's rootfs.
    func spec(_ args: [String], hostname: String = "rpc-box", terminal: Bool = false,
              consoleSize: (rows: UInt32, cols: UInt32)? = nil, namespaces: [String] = defaultNamespaces) -> Grpc_Spec {
        Self.spec(args, rootfs: rootfs, hostname: hostname, terminal: terminal, consoleSize: consoleSize, namespaces: namespaces)
    }

    static let defaultNamespaces = ["pid", "ipc", "uts", "mount"]
    /// What the Go runtime sends: it strips the pid entry and says sandbox_pidns instead.
    static let goRuntimeNamespaces = ["ipc", "uts", "mount"]

    /// A busybox spec with its own pid, ipc, uts and mount namespaces (or `namespaces`), /proc
    /// and a tmpfs /dev.
    static func spec(_ args: [String], rootfs: String, hostname: String = "rpc-box", terminal: Bool = false,
                     consoleSize: (rows: UInt32, cols: UInt32)? = nil, namespaces: [String] = defaultNamespaces) -> Grpc_Spec {
        var spec = Grpc_Spec()
        spec.version = "1.0.2"
        spec.process = process(args, terminal: terminal, consoleSize: consoleSize)
        var root = Grpc_Root()
        root.path = rootfs
        spec.root = root
        spec.hostname = hostname
        var proc = Grpc_Mount()
        proc.destination = "/proc"
        proc.type = "proc"
        proc.source = "proc"
        var dev = Grpc_Mount()
        dev.destination = "/dev"
        dev.type = "tmpfs"
        dev.source = "tmpfs"
        dev.options = ["nosuid", "mode=755"]
        spec.mounts = [proc, dev]
        var linux = Grpc_Linux()
        linux.namespaces = namespaces.map { type in
            var namespace = Grpc_LinuxNamespace()
            namespace.type = type
            return namespace
        }
        spec.linux = linux
        return spec
    }

    func process(_ args: [String], terminal: Bool = false, consoleSize: (rows: UInt32, cols: UInt32)? = nil) -> Grpc_Process {
        Self.process(args, terminal: terminal, consoleSize: consoleSize)
    }

    static func process(_ args: [String], terminal: Bool = false, consoleSize: (rows: UInt32, cols: UInt32)? = nil) -> Grpc_Process {
        var process = Grpc_Process()
        process.args = args
        process.env = ["PATH=/usr/sbin:/usr/bin:/sbin:/bin", "TERM=dumb"]
        process.cwd = "/"
        process.terminal = terminal
        if let consoleSize {
            var box = Grpc_Box()
            box.height = consoleSize.rows
            box.width = consoleSize.cols
            process.consoleSize = box
        }
        return process
    }

    func create(_ id: String, spec: Grpc_Spec, sandboxPidns: Bool = false) async throws {
        var request = Grpc_CreateContainerRequest()
        request.containerID = id
        request.execID = id
        request.oci = spec
        request.sandboxPidns = sandboxPidns
        _ = try await agent.agentService.createContainer(request, options: Self.options)
    }

    func start(_ id: String) async throws {
        var request = Grpc_StartContainerRequest()
        request.containerID = id
        _ = try await agent.agentService.startContainer(request, options: Self.options)
    }

    /// Create + start.
    func run(_ id: String, spec: Grpc_Spec, sandboxPidns: Bool = false) async throws {
        try await create(id, spec: spec, sandboxPidns: sandboxPidns)
        try await start(id)
    }

    func exec(_ id: String, _ execID: String, _ process: Grpc_Process) async throws {
        var request = Grpc_ExecProcessRequest()
        request.containerID = id
        request.execID = execID
        request.process = process
        _ = try await agent.agentService.execProcess(request, options: Self.options)
    }

    func wait(_ id: String, _ execID: String = "") async throws -> Int32 {
        var request = Grpc_WaitProcessRequest()
        request.containerID = id
        request.execID = execID
        return try await agent.agentService.waitProcess(request, options: Self.options).status
    }

    /// Runs `args` in the container to completion; its stdout, and its status.
    func output(_ id: String, _ args: [String]) async throws -> (String, Int32) {
        let execID = Self.uniqueID("x")
        try await exec(id, execID, process(args))
        let status = try await wait(id, execID)
        return (try await readAll(id, execID), status)
    }

    func read(_ id: String, _ execID: String = "", len: UInt32 = 4096) async throws -> Data {
        var request = Grpc_ReadStreamRequest()
        request.containerID = id
        request.execID = execID
        request.len = len
        return try await agent.agentService.readStdout(request, options: Self.options).data
    }

    /// Stdout until EOF.
    func readAll(_ id: String, _ execID: String = "") async throws -> String {
        var out = Data()
        while true {
            let chunk = try await read(id, execID)
            if chunk.isEmpty { break }
            out.append(chunk)
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Stdout until it contains `needle` (each read has the call deadline); all read so far.
    func read(_ id: String, _ execID: String, until needle: String, after previous: String = "") async throws -> String {
        var text = previous
        while !text.contains(needle) {
            let chunk = try await read(id, execID)
            guard !chunk.isEmpty else {
                XCTFail("stdout of \(id)/\(execID) ended before '\(needle)'; got: \(text.debugDescription)")
                return text
            }
            text += String(decoding: chunk, as: UTF8.self)
        }
        return text
    }

    @discardableResult
    func write(_ id: String, _ execID: String, _ text: String) async throws -> UInt32 {
        var request = Grpc_WriteStreamRequest()
        request.containerID = id
        request.execID = execID
        request.data = Data(text.utf8)
        return try await agent.agentService.writeStdin(request, options: Self.options).len
    }

    func closeStdin(_ id: String, _ execID: String) async throws {
        var request = Grpc_CloseStdinRequest()
        request.containerID = id
        request.execID = execID
        _ = try await agent.agentService.closeStdin(request, options: Self.options)
    }

    func resize(_ id: String, _ execID: String, rows: UInt32, cols: UInt32) async throws {
        var request = Grpc_TtyWinResizeRequest()
        request.containerID = id
        request.execID = execID
        request.row = rows
        request.column = cols
        _ = try await agent.agentService.ttyWinResize(request, options: Self.options)
    }

    func kill(_ id: String, _ execID: String = "", signal: UInt32 = 9) async throws {
        var request = Grpc_SignalProcessRequest()
        request.containerID = id
        request.execID = execID
        request.signal = signal
        _ = try await agent.agentService.signalProcess(request, options: Self.options)
    }

    func remove(_ id: String) async throws {
        var request = Grpc_RemoveContainerRequest()
        request.containerID = id
        request.timeout = 10
        _ = try await agent.agentService.removeContainer(request, options: Self.options)
    }

    /// Removes containers left by a failed test (errors ignored: some may be gone already).
    func removeQuietly(_ ids: [String]) async {
        for id in ids { try? await remove(id) }
    }
}
