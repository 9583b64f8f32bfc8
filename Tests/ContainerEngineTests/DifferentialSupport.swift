import ContainerEngine
import Foundation
import LinuxKit
import OCISpec
import XCTest

/// One thing the container observes about itself, printed by the probe script and compared
/// between runc and our engine.
struct DifferentialItem: Sendable {
    let name: String
    let command: String
}

/// The probe: every item the differential suite compares, in the order it is printed.
enum DifferentialProbe {
    /// Reads a cgroup limit file of the container's own cgroup. The path comes from
    /// /proc/self/cgroup; a cgroup v1 mount of the container's own directory (runc's layout
    /// without a cgroup namespace) puts the file at the controller root instead, so both are tried.
    static func cgroupFile(v1Controller: String, v1File: String, v2File: String) -> String {
        "p=$(grep ':\(v1Controller):' /proc/self/cgroup | cut -d: -f3); q=$(grep '^0::' /proc/self/cgroup | cut -d: -f3); "
            + "for f in /sys/fs/cgroup/\(v1Controller)$p/\(v1File) /sys/fs/cgroup/\(v1Controller)/\(v1File) "
            + "/sys/fs/cgroup$q/\(v2File); do if [ -n \"$p$q\" ] && [ -r \"$f\" ]; then cat \"$f\"; exit 0; fi; done; echo 'no limit file found'"
    }

    static let items: [DifferentialItem] = [
        DifferentialItem(name: "CapInh", command: "grep '^CapInh:' /proc/self/status"),
        DifferentialItem(name: "CapPrm", command: "grep '^CapPrm:' /proc/self/status"),
        DifferentialItem(name: "CapEff", command: "grep '^CapEff:' /proc/self/status"),
        DifferentialItem(name: "CapBnd", command: "grep '^CapBnd:' /proc/self/status"),
        DifferentialItem(name: "CapAmb", command: "grep '^CapAmb:' /proc/self/status"),
        DifferentialItem(name: "NoNewPrivs", command: "grep '^NoNewPrivs:' /proc/self/status"),
        DifferentialItem(name: "Seccomp", command: "grep '^Seccomp:' /proc/self/status"),
        DifferentialItem(name: "Seccomp_filters", command: "grep '^Seccomp_filters:' /proc/self/status"),
        DifferentialItem(name: "id", command: "id"),
        DifferentialItem(name: "ulimit -a", command: "ulimit -a"),
        DifferentialItem(name: "hostname", command: "hostname"),
        DifferentialItem(name: "pwd", command: "pwd"),
        DifferentialItem(name: "env", command: "env | sort"),
        // Mount point, type and the ro/rw flag only: sources and other options name host paths
        // and sizes that legitimately differ between runtimes.
        DifferentialItem(name: "mounts", command: "awk '{ split($4, o, \",\"); print $2, $3, o[1] }' /proc/self/mounts"),
        DifferentialItem(name: "cgroup controllers", command: "cut -d: -f2 /proc/self/cgroup | sort"),
        DifferentialItem(name: "cgroup memory limit",
                         command: cgroupFile(v1Controller: "memory", v1File: "memory.limit_in_bytes", v2File: "memory.max")),
        DifferentialItem(name: "cgroup pids limit", command: cgroupFile(v1Controller: "pids", v1File: "pids.max", v2File: "pids.max")),
        DifferentialItem(name: "sysctl net.ipv4.ip_forward", command: "cat /proc/sys/net/ipv4/ip_forward"),
        DifferentialItem(name: "sysctl net.core.somaxconn", command: "cat /proc/sys/net/core/somaxconn"),
        DifferentialItem(name: "write to /", command: "touch /differential-probe && rm -f /differential-probe && echo writable"),
        DifferentialItem(name: "mkdir in /dev/shm", command: "mkdir /dev/shm/differential-probe && echo created"),
        DifferentialItem(name: "read masked /proc/kcore", command: "wc -c < /proc/kcore"),
        DifferentialItem(name: "read /proc/uptime", command: "wc -l < /proc/uptime"),
        DifferentialItem(name: "list masked /sys/firmware", command: "ls -A /sys/firmware | wc -l"),
    ]

    /// What a process with a terminal observes of it (the `tty` variant only: without a
    /// terminal the stdio differ by construction, /dev/null and files for runc, pipes here).
    static let terminalItems: [DifferentialItem] = [
        DifferentialItem(name: "stdio are terminals",
                         command: "for f in 0 1 2; do if [ -t $f ]; then echo \"$f tty\"; else echo \"$f not a tty\"; fi; done"),
        DifferentialItem(name: "tty name", command: "tty"),
        DifferentialItem(name: "stdio links", command: "readlink /proc/self/fd/0 /proc/self/fd/1 /proc/self/fd/2"),
        DifferentialItem(name: "terminal size", command: "stty size"),
        DifferentialItem(name: "terminal modes", command: "stty -a"),
        DifferentialItem(name: "/dev/console", command: "ls -l /dev/console | awk '{ print $1, $3, $4, $5 }'"),  // major only: the pty index varies
        DifferentialItem(name: "/dev/pts", command: "ls /dev/pts"),
        DifferentialItem(name: "pid 1 has a controlling tty",
                         command: "ps -o pid,tty | awk '$1 == 1 { print ($2 == \"?\" ? \"no\" : \"yes\") }'"),
    ]

    /// Terminal items where the engine knowingly differs from runc, with what the engine
    /// shows and why. runc opens the PTY inside the container's own devpts (after pivot_root)
    /// and bind-mounts that pts/0 on /dev/console; the engine, like upstream's rustjail,
    /// opens it in the agent (the guest's devpts), which the container's fresh devpts does not
    /// list, and bind-mounts it on /dev/console (rustjail does not even do that). Compared
    /// exactly, so a change in either direction shows.
    static let knownTerminalDifferences: [String: (engine: String, why: String)] = [
        "tty name": ("/dev/console", "the PTY is not in the container's devpts, /dev/console is its only name"),
        "/dev/pts": ("ptmx", "the PTY is not in the container's devpts"),
        "/dev/console": ("crw------- root root 136,", "the agent's PTY keeps its own mode and group; runc's pts/0 gets devpts' mode=620,gid=5"),
    ]

    static let marker = "@@item "

    /// One `sh -c` script printing a marker line before each item's output (stderr folded in,
    /// because error messages are part of what the container observes).
    static var script: String { script(items) }

    static func script(_ items: [DifferentialItem]) -> String {
        items.map { "echo '\(marker)\($0.name)'; ( \($0.command) ) 2>&1" }.joined(separator: "; ")
    }

    /// Splits probe output into item name → lines.
    static func parse(_ output: String) -> [String: String] {
        var result: [String: String] = [:]
        var current: String?
        var lines: [String] = []
        func flush() {
            if let current { result[current] = lines.joined(separator: "\n") }
        }
        for line in output.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix(marker) {
                flush()
                current = String(line.dropFirst(marker.count))
                lines = []
            } else {
                lines.append(String(line))
            }
        }
        flush()
        return result
    }
}

/// What one runtime's run of the probe produced.
struct ProbeRun: Sendable {
    let status: Int32
    let stdout: String
    let stderr: String
}

/// A deadline passed while waiting for a container.
struct DifferentialTimeout: Error, CustomStringConvertible {
    let what: String
    var description: String { "deadline passed: \(what)" }
}

/// The suite could not prepare its bundle.
struct DifferentialSetupError: Error, CustomStringConvertible {
    let what: String
    var description: String { what }
}

/// Runs `operation`, and after `seconds` calls `onTimeout` (which must make the operation
/// finish, e.g. by killing the container) and throws.
func withDeadline<T: Sendable>(_ seconds: Int, _ what: String, onTimeout: @escaping @Sendable () -> Void,
                               _ operation: @escaping @Sendable () async throws -> T) async throws -> T {
    try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { try await operation() }
        group.addTask {
            try? await Task.sleep(for: .seconds(seconds))
            return nil
        }
        let first = try await group.next()
        if let first, let value = first {
            group.cancelAll()
            return value
        }
        onTimeout()
        group.cancelAll()
        throw DifferentialTimeout(what: what)
    }
}

/// Runs one bundle through `runc run` (state in a temp `--root`) and through our engine.
final class DifferentialHarness {
    static let runc = "/usr/sbin/runc"
    static let deadlineSeconds = 60

    let rootfs: BusyboxRootfs
    let runcRoot: URL
    let reaper: Reaper
    let engine: Engine
    /// `runc spec`'s config.json with root.path and terminal set, as parsed JSON.
    let baseSpec: [String: Any]
    private var runcIDs: [String] = []

    init() throws {
        try EngineTestSupport.requireRoot("runc and the engine need namespaces, mounts and cgroups")
        guard FileManager.default.isExecutableFile(atPath: Self.runc) else {
            throw XCTSkip("runc is not installed at \(Self.runc) (make deps installs it)")
        }
        let agent = try EngineTestSupport.agentBinary()
        rootfs = try BusyboxRootfs()
        runcRoot = FileManager.default.temporaryDirectory.appendingPathComponent("kata-diff-runc-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: runcRoot, withIntermediateDirectories: true)
        reaper = try Reaper(mode: .registeredOnly)
        engine = Engine(reaper: reaper, options: Engine.Options(initExecutable: agent, initTimeoutMilliseconds: 20_000))

        let specRun = try Self.runTool([Self.runc, "spec"], cwd: rootfs.bundle.path)
        guard specRun.status == 0 else {
            throw DifferentialSetupError(what: "runc spec in \(rootfs.bundle.path) exited \(specRun.status): \(specRun.stderr)")
        }
        let data = try Data(contentsOf: rootfs.bundle.appendingPathComponent("config.json"))
        guard var spec = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw DifferentialSetupError(what: "runc spec in \(rootfs.bundle.path) did not write a JSON object")
        }
        spec = SpecJSON.setting(spec, ["root", "path"], "rootfs")
        spec = SpecJSON.setting(spec, ["process", "terminal"], false)
        spec = SpecJSON.setting(spec, ["process", "args"], ["sh", "-c", DifferentialProbe.script])
        baseSpec = spec
    }

    /// Deletes leftover runc containers and the engine's containers, then the temp dirs.
    func cleanup() async {
        for id in runcIDs {
            _ = try? Self.runTool([Self.runc, "--root", runcRoot.path, "delete", "-f", id], cwd: "/")
        }
        for id in engine.containerIDs {
            if let container = try? engine.container(id) {
                try? container.kill(signal: SIGKILL)
                try? await container.delete(timeout: .seconds(10))
            }
        }
        reaper.shutdown()
        rootfs.remove()
        try? FileManager.default.removeItem(at: runcRoot)
    }

    func writeConfig(_ spec: [String: Any]) throws -> Data {
        let data = try JSONSerialization.data(withJSONObject: spec, options: [.prettyPrinted, .sortedKeys])
        try data.write(to: rootfs.bundle.appendingPathComponent("config.json"))
        return data
    }

    /// Runs the bundle with a terminal: `runc run -d --console-socket` hands the container's PTY
    /// master to a `ConsoleSocket`, read until the container closes its side. Detached runc
    /// keeps no exit status, so the run's status is nil.
    func runRuncWithTerminal(id: String) throws -> (run: ProbeRun, status: Int32?) {
        runcIDs.append(id)
        let bundle = rootfs.bundle.path
        let root = runcRoot.path
        let console = try ConsoleSocket(path: runcRoot.appendingPathComponent("console.sock").path)
        defer { console.close() }
        let started = try Self.runTool([Self.runc, "--root", root, "run", "-d", "--console-socket", console.path, "--bundle", bundle, id],
                                       cwd: bundle, deadlineSeconds: Self.deadlineSeconds)
        defer { _ = try? Self.runTool([Self.runc, "--root", root, "delete", "-f", id], cwd: "/", deadlineSeconds: 10) }
        guard started.status == 0 else { return (started, started.status) }
        let master = try console.receiveMaster(timeoutSeconds: Self.deadlineSeconds)
        defer { close(master) }
        let output = try ConsoleSocket.readToEnd(master, deadlineSeconds: Self.deadlineSeconds)
        return (ProbeRun(status: 0, stdout: output, stderr: started.stderr), nil)
    }

    func runRunc(id: String) throws -> ProbeRun {
        runcIDs.append(id)
        let bundle = rootfs.bundle.path
        let root = runcRoot.path
        // Blocking here is fine: nothing else of the test runs while runc does.
        let result = try Self.runTool([Self.runc, "--root", root, "run", "--bundle", bundle, id], cwd: bundle,
                                      deadlineSeconds: Self.deadlineSeconds) {
            _ = try? Self.runTool([Self.runc, "--root", root, "kill", id, "KILL"], cwd: "/", deadlineSeconds: 10)
        }
        _ = try? Self.runTool([Self.runc, "--root", root, "delete", "-f", id], cwd: "/", deadlineSeconds: 10)
        return result
    }

    func runEngine(id: String, spec: Spec) async throws -> ProbeRun {
        let container = try await Container.create(id: id, bundle: rootfs.bundle.path, spec: spec, engine: engine)
        try await container.start()
        let process = try container.process("")
        let kill: @Sendable () -> Void = { try? container.kill(signal: SIGKILL) }
        let status = try await withDeadline(Self.deadlineSeconds, "engine wait \(id)", onTimeout: kill) {
            try await container.wait()
        }
        let stdout = try await withDeadline(Self.deadlineSeconds, "engine stdout EOF \(id)", onTimeout: {}) {
            await Self.readAll(process.stdio.stdout)
        }
        let stderr = try await withDeadline(Self.deadlineSeconds, "engine stderr EOF \(id)", onTimeout: {}) {
            await Self.readAll(process.stdio.stderr)
        }
        try await container.delete(timeout: .seconds(10))
        return ProbeRun(status: status, stdout: stdout, stderr: stderr)
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

    /// Runs a host tool with stdout/stderr in temp files and a deadline on its exit.
    static func runTool(_ argv: [String], cwd: String, deadlineSeconds: Int = 30,
                        onTimeout: () -> Void = {}) throws -> ProbeRun {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("kata-diff-io-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let outURL = dir.appendingPathComponent("stdout")
        let errURL = dir.appendingPathComponent("stderr")
        _ = FileManager.default.createFile(atPath: outURL.path, contents: nil)
        _ = FileManager.default.createFile(atPath: errURL.path, contents: nil)
        let process = Foundation.Process()
        process.executableURL = URL(fileURLWithPath: argv[0])
        process.arguments = Array(argv.dropFirst())
        process.currentDirectoryURL = URL(fileURLWithPath: cwd)
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = try FileHandle(forWritingTo: outURL)
        process.standardError = try FileHandle(forWritingTo: errURL)
        let exited = DispatchSemaphore(value: 0)
        process.terminationHandler = { _ in exited.signal() }
        try process.run()
        if exited.wait(timeout: .now() + .seconds(deadlineSeconds)) == .timedOut {
            onTimeout()
            process.terminate()
            if exited.wait(timeout: .now() + .seconds(10)) == .timedOut {
                kill(process.processIdentifier, SIGKILL)
                _ = exited.wait(timeout: .now() + .seconds(10))
            }
            throw DifferentialTimeout(what: "\(argv.joined(separator: " ")) did not exit within \(deadlineSeconds)s")
        }
        let out = (try? String(contentsOf: outURL, encoding: .utf8)) ?? ""
        let err = (try? String(contentsOf: errURL, encoding: .utf8)) ?? ""
        return ProbeRun(status: process.terminationStatus, stdout: out, stderr: err)
    }
}

/// Edits of a parsed config.json.
enum SpecJSON {
    static func setting(_ dict: [String: Any], _ path: ArraySlice<String>, _ value: Any?) -> [String: Any] {
        var result = dict
        guard let key = path.first else { return result }
        if path.count == 1 {
            result[key] = value
        } else {
            result[key] = setting(dict[key] as? [String: Any] ?? [:], path.dropFirst(), value)
        }
        return result
    }

    static func setting(_ dict: [String: Any], _ path: [String], _ value: Any?) -> [String: Any] {
        setting(dict, path[...], value)
    }

    static func value(_ dict: [String: Any], _ path: [String]) -> Any? {
        var current: Any? = dict
        for key in path {
            current = (current as? [String: Any])?[key]
        }
        return current
    }
}
