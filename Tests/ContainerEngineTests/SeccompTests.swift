import ContainerEngine
import OCISpec
import XCTest

final class SeccompTests: XCTestCase {
    func testValidationNamesTheEntry() {
        let cases: [(LinuxSeccomp, String)] = [
            (LinuxSeccomp(defaultAction: "SCMP_ACT_BOGUS"), "defaultAction"),
            (LinuxSeccomp(defaultAction: "SCMP_ACT_ALLOW", architectures: ["SCMP_ARCH_Z80"]), "architectures[0]"),
            (LinuxSeccomp(defaultAction: "SCMP_ACT_ALLOW", flags: ["SECCOMP_FILTER_FLAG_BOGUS"]), "flags[0]"),
            (LinuxSeccomp(defaultAction: "SCMP_ACT_ALLOW", syscalls: [
                LinuxSyscall(names: ["read"], action: "SCMP_ACT_ERRNO"),
                LinuxSyscall(names: ["mkdir"], action: "SCMP_ACT_ERRNO", args: [LinuxSeccompArg(index: 7, value: 0, op: "SCMP_CMP_EQ")]),
            ]), "syscalls[1] (mkdir) args[0]"),
            (LinuxSeccomp(defaultAction: "SCMP_ACT_ALLOW", syscalls: [
                LinuxSyscall(names: ["mkdir"], action: "SCMP_ACT_ERRNO", args: [LinuxSeccompArg(index: 0, value: 0, op: "SCMP_CMP_ALMOST")]),
            ]), "syscalls[0] (mkdir) args[0]"),
            (LinuxSeccomp(defaultAction: "SCMP_ACT_ALLOW", syscalls: [LinuxSyscall(names: [], action: "SCMP_ACT_ERRNO")]), "syscalls[0]"),
            (LinuxSeccomp(defaultAction: "SCMP_ACT_ALLOW", syscalls: [LinuxSyscall(names: ["open"], action: "SCMP_ACT_KILL", errnoRet: 5)]),
             "syscalls[0] (open)"),
            (LinuxSeccomp(defaultAction: "SCMP_ACT_ERRNO", defaultErrnoRet: 70000), "defaultAction"),
            (LinuxSeccomp(defaultAction: "SCMP_ACT_ALLOW", syscalls: [LinuxSyscall(names: ["open"], action: "SCMP_ACT_NOTIFY")]),
             "syscalls[0] (open)"),
        ]
        for (spec, entry) in cases {
            XCTAssertThrowsError(try SeccompProfile(spec), entry) { error in
                XCTAssertTrue("\(error)".contains(entry + ":"), "\(error) should name \(entry)")
            }
        }
    }

    func testDecoding() throws {
        let profile = try SeccompProfile(LinuxSeccomp(
            defaultAction: "SCMP_ACT_ERRNO", defaultErrnoRet: 38, architectures: ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
            flags: ["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"],
            syscalls: [LinuxSyscall(names: ["personality"], action: "SCMP_ACT_ALLOW",
                                    args: [LinuxSeccompArg(index: 0, value: 0xff, valueTwo: 8, op: "SCMP_CMP_MASKED_EQ")]),
                       LinuxSyscall(names: ["kill"], action: "SCMP_ACT_TRACE"),
                       LinuxSyscall(names: ["ptrace"], action: "SCMP_ACT_KILL_PROCESS")]))
        XCTAssertEqual(profile.defaultAction.rawValue, 0x0005_0026)
        XCTAssertEqual(profile.architectures, ["x86_64", "x86"])
        XCTAssertTrue(profile.log && profile.tsync && profile.specAllow)
        XCTAssertEqual(profile.rules[0].conditions.first?.op, 7)
        XCTAssertEqual(profile.rules[0].conditions.first?.valueA, 0xff)
        XCTAssertEqual(profile.rules[0].conditions.first?.valueB, 8)
        XCTAssertEqual(profile.rules[1].action.rawValue, 0x7ff0_0001)
        XCTAssertEqual(profile.rules[2].action.rawValue, 0x8000_0000)
    }

    func testBuildSkipsUnknownSyscallsAndExports() throws {
        let filter = try SeccompFilter(LinuxSeccomp(
            defaultAction: "SCMP_ACT_ALLOW", architectures: ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
            flags: ["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW", "SECCOMP_FILTER_FLAG_TSYNC"],
            syscalls: [LinuxSyscall(names: ["mkdir", "no_such_syscall_xyz", "mkdirat"], action: "SCMP_ACT_ERRNO", errnoRet: 1),
                       LinuxSyscall(names: ["getpid"], action: "SCMP_ACT_ALLOW"),
                       LinuxSyscall(names: ["socket"], action: "SCMP_ACT_ERRNO",
                                    args: [LinuxSeccompArg(index: 0, value: 2, op: "SCMP_CMP_EQ"),
                                           LinuxSeccompArg(index: 0, value: 10, op: "SCMP_CMP_EQ")]),
                       LinuxSyscall(names: ["umask"], action: "SCMP_ACT_LOG",
                                    args: [LinuxSeccompArg(index: 0, value: 0o77, valueTwo: 0o22, op: "SCMP_CMP_MASKED_EQ")])]))
        XCTAssertEqual(filter.warnings.count, 1)
        XCTAssertTrue(filter.warnings[0].contains("no_such_syscall_xyz"), "\(filter.warnings)")
        let bpf = try filter.exportBPF()
        XCTAssertGreaterThan(bpf.count, 8)
        XCTAssertEqual(bpf.count % 8, 0)
    }

    /// Loaded in a child: mkdir is refused with the spec's errno, masked-equal and equal
    /// argument rules match only their values, and /proc/self/status shows the filter.
    func testAppliedInChild() throws {
        try SecurityProbe.requireRoot()
        let directory = NSTemporaryDirectory() + "seccomp-\(UUID().uuidString)"
        defer { rmdir(directory) }
        let seccomp = LinuxSeccomp(
            defaultAction: "SCMP_ACT_ALLOW", architectures: ["SCMP_ARCH_X86_64"], flags: ["SECCOMP_FILTER_FLAG_TSYNC"],
            syscalls: [LinuxSyscall(names: ["mkdir", "mkdirat"], action: "SCMP_ACT_ERRNO", errnoRet: 38),
                       LinuxSyscall(names: ["umask"], action: "SCMP_ACT_ERRNO", errnoRet: 13,
                                    args: [LinuxSeccompArg(index: 0, value: 0o77, valueTwo: 0o22, op: "SCMP_CMP_MASKED_EQ")]),
                       LinuxSyscall(names: ["socket"], action: "SCMP_ACT_ERRNO", errnoRet: 97,
                                    args: [LinuxSeccompArg(index: 0, value: 2, op: "SCMP_CMP_EQ")])])
        let output = try SecurityProbe.run(SecurityProbe.Config(
            seccomp: seccomp, probes: ["status", "mkdir:\(directory)", "umask:7022", "umask:027", "socket:2", "socket:1"]))
        XCTAssertEqual(output["Seccomp"], "2", "\(output)")
        XCTAssertEqual(output["NoNewPrivs"], "0", "\(output)")
        XCTAssertEqual(output["mkdir"], "errno=38", "\(output)")
        XCTAssertFalse(FileManager.default.fileExists(atPath: directory))
        XCTAssertTrue(output.raw.contains("umask errno=13\n"), "\(output)")
        XCTAssertTrue(output.raw.contains("umask ok\n"), "\(output)")
        XCTAssertTrue(output.raw.contains("socket errno=97\n"), "\(output)")
        XCTAssertTrue(output.raw.contains("socket ok\n"), "\(output)")
    }

    /// With no_new_privs the filter loads after the capabilities are dropped (no CAP_SYS_ADMIN).
    func testNoNewPrivilegesOrder() throws {
        try SecurityProbe.requireRoot()
        let output = try SecurityProbe.run(SecurityProbe.Config(
            capabilities: LinuxCapabilities(bounding: ["CAP_KILL"], effective: ["CAP_KILL"], permitted: ["CAP_KILL"]),
            seccomp: LinuxSeccomp(defaultAction: "SCMP_ACT_ALLOW",
                                  syscalls: [LinuxSyscall(names: ["mkdir", "mkdirat"], action: "SCMP_ACT_ERRNO")]),
            noNewPrivileges: true, probes: ["status", "mkdir:/proc/x"]))
        XCTAssertEqual(output["NoNewPrivs"], "1", "\(output)")
        XCTAssertEqual(output["Seccomp"], "2", "\(output)")
        XCTAssertEqual(output["CapEff"], SecurityProbe.mask([5]), "\(output)")
        XCTAssertEqual(output["mkdir"], "errno=1", "\(output)")
    }
}
