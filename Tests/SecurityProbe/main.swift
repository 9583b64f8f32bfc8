// Test helper for ContainerEngineTests: applies capabilities and seccomp to itself in the
// order the container init uses, then reports what the kernel shows and runs syscall probes.
// Tests spawn it (Swift must not run between fork and exec, so the test process cannot).
//
// usage: security-probe CONFIG.json
//   {"capabilities": LinuxCapabilities?, "seccomp": LinuxSeccomp?, "noNewPrivileges": Bool?,
//    "uid": UInt32?, "gid": UInt32?, "unshare": ["ipc", "net", "uts"]?, "sysctls": {key: value}?,
//    "probes": ["status", "mkdir:/path", "umask:022", "socket:2", "read:/proc/sys/..."]}
// Output: one "name result" line per probe; "error <text>" and exit 1 on a setup failure.
import ContainerEngine
import CLinuxShim
import Foundation
import OCISpec
#if canImport(Glibc)
import Glibc
#endif

struct ProbeConfig: Decodable {
    var capabilities: LinuxCapabilities?
    var seccomp: LinuxSeccomp?
    var noNewPrivileges: Bool?
    var uid: UInt32?
    var gid: UInt32?
    var unshare: [String]?
    var sysctls: [String: String]?
    var probes: [String]
}

func fail(_ message: String) -> Never {
    print("error \(message)")
    exit(1)
}

func outcome(_ result: Int32) -> String { result < 0 ? "errno=\(errno)" : "ok" }

let arguments = CommandLine.arguments
guard arguments.count == 2, let data = FileManager.default.contents(atPath: arguments[1]) else {
    fail("usage: security-probe CONFIG.json")
}
let config: ProbeConfig
do { config = try JSONDecoder().decode(ProbeConfig.self, from: data) } catch { fail("config: \(error)") }

let namespaceFlags: [String: Int32] = ["ipc": 0x0800_0000, "net": 0x4000_0000, "uts": 0x0400_0000]
for name in config.unshare ?? [] {
    guard let flag = namespaceFlags[name] else { fail("unknown namespace \(name)") }
    let result = engine_unshare(flag)
    if result != 0 { fail("unshare \(name): errno \(-result)") }
}

do {
    if let sysctls = config.sysctls {
        let types = Set(config.unshare ?? [])
        try Sysctls.validate(sysctls, hasIPCNamespace: types.contains("ipc"), hasUTSNamespace: types.contains("uts"))
        try Sysctls.apply(sysctls)
    }
    let sets = try config.capabilities.map { try CapabilitySets($0) }
    let filter = try config.seccomp.map { try SeccompFilter($0) }
    for warning in filter?.warnings ?? [] { print("warning \(warning)") }
    if let sets { try CapabilityApplier.dropBoundingSet(keeping: sets.bounding) }
    if config.uid != nil { try CapabilityApplier.setKeepCapabilities(true) }
    if let gid = config.gid, setgid(gid) != 0 { fail("setgid \(gid): errno \(errno)") }
    if let uid = config.uid {
        if setuid(uid) != 0 { fail("setuid \(uid): errno \(errno)") }
        try CapabilityApplier.setKeepCapabilities(false)
    }
    let noNewPrivileges = config.noNewPrivileges ?? false
    if !noNewPrivileges { try filter?.load() }
    if let sets {
        for warning in try CapabilityApplier.apply(sets) { print("warning \(warning)") }
    }
    if noNewPrivileges {
        if security_prctl(38, 1, 0, 0, 0) != 0 { fail("PR_SET_NO_NEW_PRIVS: errno \(errno)") }  // PR_SET_NO_NEW_PRIVS
        try filter?.load()
    }
} catch {
    fail("\(error)")
}

for probe in config.probes {
    let parts = probe.split(separator: ":", maxSplits: 1).map(String.init)
    let argument = parts.count > 1 ? parts[1] : ""
    switch parts.first ?? "" {
    case "status":
        let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
        for line in status.split(separator: "\n") where line.hasPrefix("Cap") || line.hasPrefix("NoNewPrivs") || line.hasPrefix("Seccomp:") {
            let fields = line.split(whereSeparator: { $0 == ":" || $0 == "\t" || $0 == " " })
            if fields.count == 2 { print("\(fields[0]) \(fields[1])") }
        }
    case "mkdir":
        print("mkdir \(outcome(mkdir(argument, 0o755)))")
    case "umask":
        // glibc's umask cannot fail, so a seccomp errno comes back as the raw -errno.
        let old = Int32(bitPattern: umask(mode_t(argument, radix: 8) ?? 0))
        print("umask \(old < 0 ? "errno=\(-old)" : "ok")")
    case "socket":
        let fd = socket(Int32(argument) ?? 0, Int32(SOCK_STREAM.rawValue), 0)
        print("socket \(outcome(fd))")
        if fd >= 0 { close(fd) }
    case "read":
        let text = (try? String(contentsOfFile: argument, encoding: .utf8)) ?? "unreadable"
        print("read \(text.trimmingCharacters(in: .whitespacesAndNewlines))")
    default:
        fail("unknown probe \(probe)")
    }
}
