import Foundation
import XCTest

@testable import OCISpec

final class SpecCodingTests: XCTestCase {
    /// `runc spec` output from Debian's runc, produced at test time.
    private func runcSpec(rootless: Bool = false) throws -> Data {
        guard let runc = ["/usr/sbin/runc", "/usr/bin/runc"].first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw XCTSkip("runc not installed (make deps installs it)")
        }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ocispec-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let process = Foundation.Process()
        process.executableURL = URL(fileURLWithPath: runc)
        process.arguments = ["spec", "--bundle", dir.path] + (rootless ? ["--rootless"] : [])
        try process.run()
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0)
        return try Data(contentsOf: dir.appendingPathComponent("config.json"))
    }

    private func jsonObject(_ data: Data) throws -> NSObject {
        try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? NSObject)
    }

    func testDecodesRuncSpec() throws {
        let spec = try Spec.decode(runcSpec())
        XCTAssertEqual(spec.root?.path, "rootfs")
        XCTAssertEqual(spec.root?.readonly, true)
        XCTAssertEqual(spec.process?.args, ["sh"])
        XCTAssertEqual(spec.process?.cwd, "/")
        XCTAssertEqual(spec.process?.user.uid, 0)
        XCTAssertEqual(spec.process?.noNewPrivileges, true)
        XCTAssertTrue(spec.process?.capabilities?.bounding?.contains("CAP_KILL") ?? false)
        XCTAssertEqual(spec.process?.rlimits?.first?.type, "RLIMIT_NOFILE")
        XCTAssertEqual(spec.hostname, "runc")
        XCTAssertTrue(spec.mounts?.contains { $0.destination == "/proc" && $0.type == "proc" } ?? false)
        XCTAssertTrue(Set(spec.linux?.namespaces?.map(\.type) ?? []).isSuperset(of: ["pid", "network", "ipc", "uts", "mount"]))
        XCTAssertTrue(spec.linux?.maskedPaths?.contains("/proc/kcore") ?? false)
        XCTAssertEqual(spec.linux?.resources?.devices?.first, LinuxDeviceCgroup(allow: false, access: "rwm"))
    }

    func testRoundTripKeepsEveryKey() throws {
        for rootless in [false, true] {
            let original = try runcSpec(rootless: rootless)
            let spec = try Spec.decode(original)
            let encoded = try spec.encoded()
            XCTAssertEqual(try Spec.decode(encoded), spec)
            // Same JSON document: no key lost, renamed or added.
            XCTAssertEqual(try jsonObject(encoded), try jsonObject(original), "rootless=\(rootless)")
        }
    }

    func testFullDocumentRoundTrip() throws {
        let json = """
        {"ociVersion":"1.2.0","hostname":"h","domainname":"d",
         "process":{"terminal":true,"consoleSize":{"height":24,"width":80},
           "user":{"uid":1,"gid":2,"umask":18,"additionalGids":[3,4]},"args":["sh"],"env":["A=B"],"cwd":"/w",
           "capabilities":{"bounding":["CAP_KILL"],"effective":[],"inheritable":[],"permitted":["CAP_KILL"],"ambient":[]},
           "rlimits":[{"type":"RLIMIT_NOFILE","hard":1024,"soft":1024}],"noNewPrivileges":true,
           "apparmorProfile":"p","oomScoreAdj":-100,"selinuxLabel":"l"},
         "root":{"path":"/r","readonly":false},
         "mounts":[{"destination":"/m","type":"bind","source":"/s","options":["rbind","ro","rslave"]}],
         "hooks":{"prestart":[{"path":"/bin/true","args":["true"],"env":["X=1"],"timeout":5}],
           "createRuntime":[],"createContainer":[],"startContainer":[],"poststart":[],"poststop":[]},
         "annotations":{"a":"b"},
         "linux":{"uidMappings":[{"containerID":0,"hostID":1000,"size":65536}],
           "gidMappings":[{"containerID":0,"hostID":1000,"size":65536}],
           "sysctl":{"net.ipv4.ip_forward":"1"},
           "resources":{"devices":[{"allow":true,"type":"c","major":1,"minor":3,"access":"rwm"}],
             "memory":{"limit":-1,"reservation":1,"swap":2,"kernel":3,"kernelTCP":4,"swappiness":60,"disableOOMKiller":false,"useHierarchy":true,"checkBeforeUpdate":true},
             "cpu":{"shares":1024,"quota":100000,"burst":0,"period":100000,"realtimeRuntime":1,"realtimePeriod":2,"cpus":"0-1","mems":"0","idle":0},
             "pids":{"limit":32},
             "blockIO":{"weight":10,"leafWeight":10,"weightDevice":[{"major":8,"minor":0,"weight":5,"leafWeight":6}],
               "throttleReadBpsDevice":[{"major":8,"minor":0,"rate":100}],"throttleWriteBpsDevice":[],
               "throttleReadIOPSDevice":[],"throttleWriteIOPSDevice":[]},
             "hugepageLimits":[{"pageSize":"2MB","limit":1048576}],
             "network":{"classID":1,"priorities":[{"name":"eth0","priority":2}]},
             "rdma":{"mlx5_1":{"hcaHandles":3,"hcaObjects":10000}},
             "unified":{"memory.high":"max"}},
           "cgroupsPath":"/kata/x",
           "namespaces":[{"type":"pid"},{"type":"network","path":"/proc/1/ns/net"}],
           "devices":[{"path":"/dev/fuse","type":"c","major":10,"minor":229,"fileMode":438,"uid":0,"gid":0}],
           "seccomp":{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":1,"architectures":["SCMP_ARCH_X86_64"],
             "flags":["SECCOMP_FILTER_FLAG_LOG"],
             "syscalls":[{"names":["getcwd"],"action":"SCMP_ACT_ERRNO","errnoRet":5,
               "args":[{"index":0,"value":255,"valueTwo":4,"op":"SCMP_CMP_MASKED_EQ"}]}]},
           "rootfsPropagation":"rslave","maskedPaths":["/proc/kcore"],"readonlyPaths":["/proc/sys"],
           "mountLabel":"m","intelRdt":{"closID":"c","l3CacheSchema":"L3:0=f","memBwSchema":"MB:0=70","enableCMT":true,"enableMBM":false}}}
        """
        let data = Data(json.utf8)
        let spec = try Spec.decode(data)
        XCTAssertEqual(spec.linux?.seccomp?.syscalls?.first?.args?.first?.valueTwo, 4)
        XCTAssertEqual(spec.linux?.resources?.memory?.limit, -1)
        XCTAssertEqual(spec.linux?.resources?.rdma?["mlx5_1"]?.hcaObjects, 10000)
        XCTAssertEqual(spec.process?.user.umask, 18)
        XCTAssertEqual(try jsonObject(spec.encoded()), try jsonObject(data))
    }

    func testMissingRequiredFieldIsAnError() {
        // process.cwd and process.user are required by the spec.
        let json = #"{"ociVersion":"1.0.2","process":{"args":["sh"]}}"#
        XCTAssertThrowsError(try Spec.decode(Data(json.utf8)))
    }

    func testStateEncoding() throws {
        let state = State(id: "c1", status: "created", pid: 42, bundle: "/b")
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: JSONEncoder().encode(state)) as? [String: Any])
        XCTAssertEqual(object["id"] as? String, "c1")
        XCTAssertEqual(object["pid"] as? Int, 42)
        XCTAssertEqual(object["status"] as? String, "created")
        XCTAssertNil(object["annotations"])
    }
}
