import ContainerEngine
import Foundation
import LinuxKit
import OCISpec
import XCTest

/// The same bundle (config.json from `runc spec`, then varied) run by Debian's runc and by the
/// engine; what the container observes must match. Compared items, one probe line each:
/// - /proc/self/status Cap* lines, NoNewPrivs, Seccomp
/// - `id` (uid, gid, groups)
/// - `ulimit -a`
/// - hostname
/// - cwd (`pwd`)
/// - env (sorted)
/// - mount list (mount points from /proc/self/mounts, sorted)
final class RuncDifferentialTests: XCTestCase {
    static let probe = """
        grep -E '^(Cap(Inh|Prm|Eff|Bnd|Amb)|NoNewPrivs|Seccomp):' /proc/self/status; echo ---id; id; \
        echo ---ulimit; ulimit -a; echo ---hostname; hostname; echo ---cwd; pwd; echo ---env; env | sort; \
        echo ---mounts; awk '{print $2}' /proc/self/mounts | sort
        """

    var rootfs: BusyboxRootfs?
    var reaper: Reaper?

    override func setUpWithError() throws {
        try EngineTestSupport.requireRoot("runc and the engine need root")
        guard FileManager.default.isExecutableFile(atPath: "/usr/sbin/runc") else { throw XCTSkip("runc is not installed") }
        rootfs = try BusyboxRootfs()
        reaper = try Reaper(mode: .registeredOnly)
    }

    override func tearDown() {
        reaper?.shutdown()
        rootfs?.remove()
    }

    func runcSpec() throws -> Spec {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("runc-spec-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        _ = try Self.run("/usr/sbin/runc", ["spec", "--bundle", dir.path])
        var spec = try Spec.load(bundle: dir.path)
        spec.process?.terminal = false
        spec.process?.args = ["sh", "-c", Self.probe]
        spec.root?.path = try XCTUnwrap(rootfs).rootfs
        return spec
    }

    static func run(_ path: String, _ args: [String]) throws -> String {
        let process = Foundation.Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = args
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: data, as: UTF8.self)
    }

    func observeWithRunc(_ spec: Spec) throws -> String {
        let bundle = try XCTUnwrap(rootfs).bundle.path
        try spec.encoded(pretty: true).write(to: URL(fileURLWithPath: bundle + "/config.json"))
        let id = "diff-runc-\(UUID().uuidString.prefix(8).lowercased())"
        defer { _ = try? Self.run("/usr/sbin/runc", ["delete", "-f", id]) }
        return try Self.run("/usr/sbin/runc", ["run", "--bundle", bundle, id])
    }

    func observeWithEngine(_ spec: Spec) async throws -> String {
        let engine = Engine(reaper: try XCTUnwrap(reaper), options: Engine.Options(initExecutable: try EngineTestSupport.agentBinary()))
        let id = "diff-eng-\(UUID().uuidString.prefix(8).lowercased())"
        let container = try await Container.create(id: id, bundle: try XCTUnwrap(rootfs).bundle.path, spec: spec, engine: engine)
        try await container.start()
        _ = try await container.wait()
        let out = await ContainerLifecycleTests.readAll(try container.process("").stdio.stdout)
        try await container.delete(timeout: .seconds(10))
        return out
    }

    func compare(_ spec: Spec, _ label: String) async throws {
        let expected = try observeWithRunc(spec)
        let actual = try await observeWithEngine(spec)
        XCTAssertFalse(expected.isEmpty, "runc printed nothing for \(label)")
        let sections = { (text: String) -> [String: String] in
            var out: [String: String] = [:]
            var name = "status"
            for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
                if line.hasPrefix("---") { name = String(line.dropFirst(3)); continue }
                out[name, default: ""] += line + "\n"
            }
            return out
        }
        let want = sections(expected)
        let got = sections(actual)
        for item in ["status", "id", "ulimit", "hostname", "cwd", "env", "mounts"] {
            XCTAssertEqual(got[item], want[item], "\(label): \(item) differs")
        }
    }

    func testDefaultRuncSpec() async throws {
        try await compare(try runcSpec(), "runc spec")
    }

    func testUserRlimitsCwdEnvHostname() async throws {
        var spec = try runcSpec()
        spec.process?.user = User(uid: 1000, gid: 1000, additionalGids: [10])
        spec.process?.rlimits = [POSIXRlimit(type: "RLIMIT_NOFILE", hard: 2048, soft: 512),
                                 POSIXRlimit(type: "RLIMIT_NPROC", hard: 300, soft: 200)]
        spec.process?.cwd = "/tmp"
        spec.process?.env?.append("FOO=bar baz")
        spec.hostname = "differential"
        try await compare(spec, "user/rlimits/cwd/env/hostname")
    }

    func testCapabilitiesAndNoNewPrivs() async throws {
        var spec = try runcSpec()
        spec.process?.noNewPrivileges = false
        spec.process?.capabilities = LinuxCapabilities(
            bounding: ["CAP_CHOWN", "CAP_KILL", "CAP_SETUID"], effective: ["CAP_CHOWN"],
            inheritable: ["CAP_CHOWN"], permitted: ["CAP_CHOWN", "CAP_KILL"], ambient: ["CAP_CHOWN"])
        try await compare(spec, "capabilities")
    }

    func testReadonlyRootAndSeccomp() async throws {
        var spec = try runcSpec()
        spec.root?.readonly = true
        spec.linux?.seccomp = LinuxSeccomp(
            defaultAction: "SCMP_ACT_ALLOW", architectures: ["SCMP_ARCH_X86_64"],
            syscalls: [LinuxSyscall(names: ["mkdirat"], action: "SCMP_ACT_ERRNO", errnoRet: 1)])
        try await compare(spec, "readonly root + seccomp")
    }
}
