import ContainerEngine
import Foundation
import OCISpec
import XCTest

/// The same bundle (config.json from `runc spec`, then varied) run by Debian's runc and by our
/// engine; what the container observes about itself must match item by item. The compared items
/// are `DifferentialProbe.items`: CapInh, CapPrm, CapEff, CapBnd, CapAmb, NoNewPrivs, Seccomp,
/// Seccomp_filters, id, ulimit -a, hostname, pwd, env, mounts, cgroup controllers, cgroup memory
/// limit, cgroup pids limit, sysctl net.ipv4.ip_forward, sysctl net.core.somaxconn, write to /,
/// mkdir in /dev/shm, read masked /proc/kcore, read /proc/uptime, list masked /sys/firmware,
/// plus the exit status. The `tty` variant (process.terminal, runc through --console-socket)
/// adds `DifferentialProbe.terminalItems`: stdio are terminals, tty name, stdio links, terminal
/// size, terminal modes, /dev/console, /dev/pts, session leader with a controlling tty; and
/// whether output lines end in CRLF. runc keeps no exit status when detached, so that variant
/// does not compare it.
final class DifferentialTests: XCTestCase {
    var harness: DifferentialHarness?

    override func setUpWithError() throws {
        harness = try DifferentialHarness()
    }

    override func tearDown() async throws {
        await harness?.cleanup()
        harness = nil
    }

    /// Writes the variant's config.json, runs it with runc then with the engine, and compares
    /// every probe item.
    func compare(_ variant: String, terminal: Bool = false, file: StaticString = #filePath, line: UInt = #line,
                 _ edit: ([String: Any]) -> [String: Any]) async throws {
        let harness = try XCTUnwrap(harness)
        let items = terminal ? DifferentialProbe.items + DifferentialProbe.terminalItems : DifferentialProbe.items
        var config = edit(harness.baseSpec)
        if terminal {
            config = SpecJSON.setting(config, ["process", "terminal"], true)
            config = SpecJSON.setting(config, ["process", "args"], ["sh", "-c", DifferentialProbe.script(items)])
        }
        let data = try harness.writeConfig(config)
        let spec = try Spec.decode(data)
        let suffix = UUID().uuidString.prefix(8).lowercased()
        let runcID = "diff-runc-\(suffix)"
        let engineID = "diff-ours-\(suffix)"
        let runc: ProbeRun
        var compareStatus = true
        if terminal {
            let run = try harness.runRuncWithTerminal(id: runcID)
            runc = run.run
            compareStatus = run.status != nil
        } else {
            runc = try harness.runRunc(id: runcID)
        }
        let ours: ProbeRun
        do {
            ours = try await harness.runEngine(id: engineID, spec: spec)
        } catch {
            // Shown with runc's observations so the failure says what was expected.
            XCTFail("[\(variant)] our engine could not run the bundle runc ran: \(error)\n--- runc (status \(runc.status)) stdout:\n"
                    + runc.stdout.replacingOccurrences(of: runcID, with: "<id>") + "\n--- runc stderr:\n\(runc.stderr)",
                    file: file, line: line)
            return
        }
        // Container ids differ by construction (both runtimes' state is keyed by id and the two
        // runs must not collide); they show up in cgroup paths, so they are replaced.
        var runcOut = runc.stdout.replacingOccurrences(of: runcID, with: "<id>")
        var oursOut = ours.stdout.replacingOccurrences(of: engineID, with: "<id>")
        if terminal {
            // The terminal's output processing (onlcr) is observable: compare it, then undo it
            // so the items parse alike.
            XCTAssertEqual(runcOut.contains("\r\n"), oursOut.contains("\r\n"), "[\(variant)] item 'CRLF output' differs",
                           file: file, line: line)
            runcOut = runcOut.replacingOccurrences(of: "\r\n", with: "\n")
            oursOut = oursOut.replacingOccurrences(of: "\r\n", with: "\n")
        }
        let both = """
            variant \(variant)
            --- runc (status \(runc.status)) stdout:
            \(runcOut)
            --- runc stderr:
            \(runc.stderr)
            --- engine (status \(ours.status)) stdout:
            \(oursOut)
            --- engine stderr:
            \(ours.stderr)
            """
        if compareStatus {
            XCTAssertEqual(runc.status, ours.status, "[\(variant)] item 'exit status' differs\n\(both)", file: file, line: line)
        }
        let runcItems = DifferentialProbe.parse(runcOut)
        let oursItems = DifferentialProbe.parse(oursOut)
        XCTAssertNotNil(runcItems["CapEff"], "[\(variant)] runc did not run the probe\n\(both)", file: file, line: line)
        var mismatched: [String] = []
        for item in items {
            var expected = runcItems[item.name] ?? "<not printed>"
            let actual = oursItems[item.name] ?? "<not printed>"
            if terminal, let known = DifferentialProbe.knownTerminalDifferences[item.name] {
                print("[\(variant)] item '\(item.name)' differs knowingly (\(known.why)): runc \(expected.debugDescription)")
                expected = known.engine
            }
            if expected != actual {
                mismatched.append(item.name)
                XCTFail("[\(variant)] item '\(item.name)' differs\n runc:   \(expected.debugDescription)\n engine: \(actual.debugDescription)",
                        file: file, line: line)
            }
        }
        if !mismatched.isEmpty {
            XCTFail("[\(variant)] \(mismatched.count) item(s) differ: \(mismatched.joined(separator: ", "))\n\(both)", file: file, line: line)
        }
    }

    func testDefault() async throws {
        try await compare("default") { $0 }
    }

    func testCapabilitiesReduced() async throws {
        try await compare("capabilities reduced") { spec in
            let caps = ["CAP_KILL", "CAP_CHOWN"]
            return SpecJSON.setting(spec, ["process", "capabilities"], [
                "bounding": caps, "effective": caps, "permitted": caps, "inheritable": ["CAP_KILL"], "ambient": ["CAP_KILL"],
            ])
        }
    }

    func testUserWithAdditionalGids() async throws {
        try await compare("user 1000:1000 + additionalGids") { spec in
            SpecJSON.setting(spec, ["process", "user"], ["uid": 1000, "gid": 1000, "additionalGids": [10, 20, 1000]])
        }
    }

    func testRlimits() async throws {
        try await compare("rlimits") { spec in
            SpecJSON.setting(spec, ["process", "rlimits"], [
                ["type": "RLIMIT_NOFILE", "soft": 123, "hard": 321],
                ["type": "RLIMIT_CORE", "soft": 0, "hard": 4096],
                ["type": "RLIMIT_STACK", "soft": 4_194_304, "hard": 8_388_608],
            ])
        }
    }

    func testWritableRoot() async throws {
        // `runc spec` already makes the root read-only (the default variant covers that).
        try await compare("root readonly false") { SpecJSON.setting($0, ["root", "readonly"], false) }
    }

    func testMaskedAndReadonlyPaths() async throws {
        try await compare("maskedPaths / readonlyPaths") { spec in
            var result = spec
            let masked = (SpecJSON.value(spec, ["linux", "maskedPaths"]) as? [String] ?? []) + ["/proc/uptime", "/etc/group"]
            let readonly = (SpecJSON.value(spec, ["linux", "readonlyPaths"]) as? [String] ?? []) + ["/dev/shm"]
            result = SpecJSON.setting(result, ["linux", "maskedPaths"], masked)
            result = SpecJSON.setting(result, ["linux", "readonlyPaths"], readonly)
            return result
        }
    }

    func testSeccompErrnoForMkdir() async throws {
        try await compare("seccomp mkdir -> EPERM") { spec in
            SpecJSON.setting(spec, ["linux", "seccomp"], [
                "defaultAction": "SCMP_ACT_ALLOW",
                "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
                "syscalls": [["names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1]],
            ])
        }
    }

    func testNoNewPrivilegesFalse() async throws {
        // `runc spec` sets noNewPrivileges true, which the default variant covers.
        try await compare("noNewPrivileges false") { SpecJSON.setting($0, ["process", "noNewPrivileges"], false) }
    }

    func testHostname() async throws {
        try await compare("hostname") { SpecJSON.setting($0, ["hostname"], "differential-box") }
    }

    func testEnv() async throws {
        try await compare("env") { spec in
            SpecJSON.setting(spec, ["process", "env"], [
                "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "TERM=dumb", "FOO=bar baz", "HOME=/tmp", "EMPTY=",
            ])
        }
    }

    func testCwd() async throws {
        try await compare("cwd") { SpecJSON.setting($0, ["process", "cwd"], "/home/user") }
    }

    func testSysctls() async throws {
        try await compare("sysctls") { spec in
            SpecJSON.setting(spec, ["linux", "sysctl"], ["net.ipv4.ip_forward": "1", "net.core.somaxconn": "1000"])
        }
    }

    func testTerminal() async throws {
        try await compare("tty", terminal: true) { spec in
            SpecJSON.setting(spec, ["process", "consoleSize"], ["height": 33, "width": 77])
        }
    }

    func testMemoryAndPidsLimits() async throws {
        try await compare("memory and pids limits") { spec in
            var result = SpecJSON.setting(spec, ["linux", "resources", "memory"], ["limit": 67_108_864])
            result = SpecJSON.setting(result, ["linux", "resources", "pids"], ["limit": 64])
            return result
        }
    }
}
