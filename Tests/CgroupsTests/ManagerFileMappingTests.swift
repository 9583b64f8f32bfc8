import Foundation
import OCISpec
import XCTest
@testable import Cgroups

/// The managers against plain directories: which file gets which value, no root needed.
final class ManagerFileMappingTests: XCTestCase {
    var root = ""
    let fs = LocalCgroupFileSystem(createMissingFiles: true)

    override func setUpWithError() throws {
        root = NSTemporaryDirectory() + "cgroups-map-\(getpid())-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: root)
    }

    func read(_ path: String) throws -> String { try fs.read(root + path) }

    /// Writes a file as the kernel would have it, creating its directory.
    func seed(_ path: String, _ value: String) throws {
        try fs.createDirectory(String(path[..<(path.lastIndex(of: "/") ?? path.endIndex)]))
        try fs.write(path, value)
    }

    func testV1ManagerWritesEachControllerDirectory() throws {
        let mounts = ["memory": root + "/memory", "cpu": root + "/cpu,cpuacct", "cpuacct": root + "/cpu,cpuacct",
                      "pids": root + "/pids", "devices": root + "/devices", "cpuset": root + "/cpuset"]
        try fs.createDirectory(root + "/cpuset/pod")
        try fs.write(root + "/cpuset/cpuset.cpus", "0-1\n")
        try fs.write(root + "/cpuset/cpuset.mems", "0\n")
        try fs.write(root + "/cpuset/pod/cpuset.cpus", "")
        try fs.write(root + "/cpuset/pod/cpuset.mems", "")
        try fs.createDirectory(root + "/cpuset/pod/c1")
        try fs.write(root + "/cpuset/pod/c1/cpuset.cpus", "")
        try fs.write(root + "/cpuset/pod/c1/cpuset.mems", "")
        let manager = V1CgroupManager(mounts: mounts, path: "/pod/c1", unified: nil, fileSystem: fs)
        try manager.create()
        XCTAssertEqual(try read("/cpuset/pod/c1/cpuset.cpus"), "0-1")
        XCTAssertEqual(try read("/cpuset/pod/cpuset.mems"), "0")
        try manager.apply(LinuxResources(
            devices: [LinuxDeviceCgroup(allow: false), LinuxDeviceCgroup(allow: true, type: "c", major: 1, minor: 3, access: "rwm")],
            memory: LinuxMemory(limit: 1 << 20), cpu: LinuxCPU(shares: 256), pids: LinuxPids(limit: 5)))
        XCTAssertEqual(try read("/memory/pod/c1/memory.limit_in_bytes"), "1048576")
        XCTAssertEqual(try read("/cpu,cpuacct/pod/c1/cpu.shares"), "256")
        XCTAssertEqual(try read("/pids/pod/c1/pids.max"), "5")
        // The file keeps only the last write; the order is covered by the plan tests.
        XCTAssertEqual(try read("/devices/pod/c1/devices.deny"), "a")
        XCTAssertEqual(try read("/devices/pod/c1/devices.allow"), "c 1:3 rwm")
        try manager.addProcess(4242)
        XCTAssertEqual(try read("/memory/pod/c1/cgroup.procs"), "4242")
        XCTAssertEqual(try read("/cpu,cpuacct/pod/c1/cgroup.procs"), "4242")
    }

    func testV1ManagerRefusesUnmountedController() throws {
        let manager = V1CgroupManager(mounts: ["memory": root + "/memory"], path: "/c", unified: nil, fileSystem: fs)
        XCTAssertThrowsError(try manager.apply(LinuxResources(pids: LinuxPids(limit: 3)))) { error in
            XCTAssertTrue("\(error)".contains("pids"), "\(error)")
        }
    }

    func testHybridSendsUnifiedOnlyControllersToV2() throws {
        try seed(root + "/unified/cgroup.controllers", "hugetlb\n")
        try seed(root + "/unified/cgroup.subtree_control", "\n")
        let unified = V2CgroupManager(mount: root + "/unified", path: "/c", controllers: ["hugetlb"], ownsDevices: false, fileSystem: fs)
        let manager = V1CgroupManager(mounts: ["memory": root + "/memory"], path: "/c", unified: unified, fileSystem: fs)
        try manager.create()
        XCTAssertEqual(try read("/unified/cgroup.subtree_control"), "+hugetlb")
        try manager.apply(LinuxResources(memory: LinuxMemory(limit: 4096), hugepageLimits: [LinuxHugepageLimit(pageSize: "2MB", limit: 0)]))
        XCTAssertEqual(try read("/memory/c/memory.limit_in_bytes"), "4096")
        XCTAssertEqual(try read("/unified/c/hugetlb.2MB.max"), "0")
        XCTAssertFalse(fs.exists(root + "/memory/c/hugetlb.2MB.limit_in_bytes"))
    }

    func testV2ManagerWritesAndStats() throws {
        try fs.write(root + "/cgroup.controllers", "cpu memory pids io\n")
        try fs.write(root + "/cgroup.subtree_control", "")
        let manager = V2CgroupManager(mount: root, path: "/c2", controllers: ["cpu", "memory", "pids", "io"], ownsDevices: true, fileSystem: fs)
        try manager.create()
        try manager.apply(LinuxResources(memory: LinuxMemory(limit: 8192), cpu: LinuxCPU(quota: 1000, period: 10000), pids: LinuxPids(limit: 9)))
        XCTAssertEqual(try read("/c2/memory.max"), "8192")
        XCTAssertEqual(try read("/c2/cpu.max"), "1000 10000")
        XCTAssertEqual(try read("/c2/pids.max"), "9")
        try fs.write(root + "/c2/cpu.stat", "usage_usec 5\nuser_usec 3\nsystem_usec 2\nnr_periods 7\nnr_throttled 1\nthrottled_usec 4\n")
        try fs.write(root + "/c2/memory.current", "4096\n")
        try fs.write(root + "/c2/memory.stat", "anon 1\nfile 2\n")
        try fs.write(root + "/c2/memory.events", "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n")
        try fs.write(root + "/c2/pids.current", "2\n")
        try fs.write(root + "/c2/io.stat", "8:0 rbytes=10 wbytes=20 rios=1 wios=2 dbytes=0 dios=0\n")
        let stats = try manager.stats()
        XCTAssertEqual(stats.cpu.totalUsage, 5000)
        XCTAssertEqual(stats.cpu.throttledTime, 4000)
        XCTAssertEqual(stats.memory.usage.usage, 4096)
        XCTAssertEqual(stats.memory.usage.limit, 8192)
        XCTAssertEqual(stats.memory.usage.failcnt, 3)
        XCTAssertEqual(stats.memory.cache, 2)
        XCTAssertEqual(stats.pids.current, 2)
        XCTAssertEqual(stats.pids.limit, 9)
        XCTAssertEqual(stats.blkio.ioServiceBytesRecursive, [BlkioEntry(major: 8, minor: 0, op: "Read", value: 10),
                                                              BlkioEntry(major: 8, minor: 0, op: "Write", value: 20)])
        XCTAssertThrowsError(try manager.apply(LinuxResources(hugepageLimits: [LinuxHugepageLimit(pageSize: "2MB", limit: 1)])))
    }

    func testV1StatsParsing() throws {
        let manager = V1CgroupManager(mounts: ["cpuacct": root + "/acct", "memory": root + "/mem", "blkio": root + "/blk"],
                                      path: "/c", unified: nil, fileSystem: fs)
        try seed(root + "/acct/c/cpuacct.usage", "1000\n")
        try seed(root + "/acct/c/cpuacct.usage_percpu", "600 400 \n")
        try seed(root + "/acct/c/cpuacct.stat", "user 2\nsystem 1\n")
        try seed(root + "/mem/c/memory.usage_in_bytes", "100\n")
        try seed(root + "/mem/c/memory.limit_in_bytes", "9223372036854771712\n")
        try seed(root + "/mem/c/memory.stat", "cache 7\ntotal_cache 9\n")
        try seed(root + "/blk/c/blkio.throttle.io_service_bytes_recursive", "8:0 Read 5\n8:0 Write 6\nTotal 11\n")
        let stats = try manager.stats()
        XCTAssertEqual(stats.cpu.totalUsage, 1000)
        XCTAssertEqual(stats.cpu.perCPUUsage, [600, 400])
        XCTAssertEqual(stats.cpu.userUsage, 20_000_000)
        XCTAssertEqual(stats.memory.usage.usage, 100)
        XCTAssertEqual(stats.memory.usage.limit, 9223372036854771712)
        XCTAssertEqual(stats.memory.cache, 9)
        XCTAssertEqual(stats.blkio.ioServiceBytesRecursive.count, 2)
    }

    func testCountersTooLargeForNanosecondsSaturate() throws {
        let v2 = V2CgroupManager(mount: root, path: "/big", controllers: ["cpu"], ownsDevices: true, fileSystem: fs)
        try v2.create()
        try fs.write(root + "/big/cpu.stat", "usage_usec 18446744073709551615\nuser_usec 18446744073709552\nsystem_usec 1\n")
        let stats = try v2.stats()
        XCTAssertEqual(stats.cpu.totalUsage, UInt64.max)
        XCTAssertEqual(stats.cpu.userUsage, UInt64.max)
        XCTAssertEqual(stats.cpu.kernelUsage, 1000)
        let v1 = V1CgroupManager(mounts: ["cpuacct": root + "/acct"], path: "/big", unified: nil, fileSystem: fs)
        try seed(root + "/acct/big/cpuacct.stat", "user 18446744073709551615\nsystem 3\n")
        XCTAssertEqual(try v1.stats().cpu.userUsage, UInt64.max)
        XCTAssertEqual(try v1.stats().cpu.kernelUsage, 30_000_000)
    }

    func testV1CpusetRefreshWidensEveryLevelParentsFirst() throws {
        let v1 = V1CgroupManager(mounts: ["cpuset": root + "/cs", "memory": root + "/mem"], path: "/kubepods/pod1/ctr",
                                 unified: nil, fileSystem: fs)
        try seed(root + "/cs/cpuset.cpus", "0-1\n")
        try seed(root + "/cs/cpuset.mems", "0\n")
        // The kernel makes each new cpuset's files empty.
        for level in ["/kubepods", "/kubepods/pod1", "/kubepods/pod1/ctr"] {
            try seed(root + "/cs" + level + "/cpuset.cpus", "")
            try seed(root + "/cs" + level + "/cpuset.mems", "")
        }
        try v1.create()
        XCTAssertEqual(try read("/cs/kubepods/pod1/ctr/cpuset.cpus"), "0-1")
        // Two more CPUs came online: the root has them, the levels below do not.
        try fs.write(root + "/cs/cpuset.cpus", "0-3\n")
        try v1.refreshCpuset(containerCPUs: nil)
        XCTAssertEqual(try read("/cs/kubepods/cpuset.cpus"), "0-3")
        XCTAssertEqual(try read("/cs/kubepods/pod1/cpuset.cpus"), "0-3")
        XCTAssertEqual(try read("/cs/kubepods/pod1/ctr/cpuset.cpus"), "0-3")
        // A container whose spec named CPUs keeps them; the levels above still grow.
        try v1.refreshCpuset(containerCPUs: "1")
        XCTAssertEqual(try read("/cs/kubepods/pod1/ctr/cpuset.cpus"), "1")
        XCTAssertEqual(try read("/cs/kubepods/pod1/cpuset.cpus"), "0-3")
        // No cpuset hierarchy: nothing to do.
        try V1CgroupManager(mounts: ["memory": root + "/mem"], path: "/x", unified: nil, fileSystem: fs).refreshCpuset(containerCPUs: nil)
    }
}
