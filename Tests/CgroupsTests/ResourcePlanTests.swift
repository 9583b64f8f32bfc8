import OCISpec
import XCTest
@testable import Cgroups

final class ResourcePlanTests: XCTestCase {
    func testV1Memory() throws {
        let writes = try V1ResourcePlan.writes(for: LinuxResources(memory: LinuxMemory(
            limit: 100 << 20, reservation: 50 << 20, swap: 200 << 20, swappiness: 10, disableOOMKiller: true)))
        XCTAssertEqual(writes.map(\.description), [
            "memory/memory.limit_in_bytes=104857600",
            "memory/memory.memsw.limit_in_bytes=209715200",
            "memory/memory.soft_limit_in_bytes=52428800",
            "memory/memory.swappiness=10",
            "memory/memory.oom_control=1",
        ])
        // Unlimited: memsw has to be raised before the limit.
        let unlimited = try V1ResourcePlan.writes(for: LinuxResources(memory: LinuxMemory(limit: -1, swap: -1)))
        XCTAssertEqual(unlimited.map(\.description), [
            "memory/memory.memsw.limit_in_bytes=-1", "memory/memory.limit_in_bytes=-1",
        ])
        XCTAssertThrowsError(try V1ResourcePlan.writes(for: LinuxResources(memory: LinuxMemory(swappiness: 101))))
    }

    func testV1CPUPidsBlkioHugetlb() throws {
        let resources = LinuxResources(
            cpu: LinuxCPU(shares: 512, quota: 50000, period: 100000, cpus: "0-1", mems: "0"),
            pids: LinuxPids(limit: 32),
            blockIO: LinuxBlockIO(weight: 500, weightDevice: [LinuxWeightDevice(major: 8, minor: 0, weight: 300)],
                                  throttleReadBpsDevice: [LinuxThrottleDevice(major: 8, minor: 0, rate: 1_048_576)],
                                  throttleWriteIOPSDevice: [LinuxThrottleDevice(major: 8, minor: 0, rate: 100)]),
            hugepageLimits: [LinuxHugepageLimit(pageSize: "2MB", limit: 4 << 20)])
        XCTAssertEqual(try V1ResourcePlan.writes(for: resources).map(\.description), [
            "cpu/cpu.shares=512", "cpu/cpu.cfs_period_us=100000", "cpu/cpu.cfs_quota_us=50000",
            "cpuset/cpuset.cpus=0-1", "cpuset/cpuset.mems=0", "pids/pids.max=32",
            "blkio/blkio.weight=500", "blkio/blkio.weight_device=8:0 300",
            "blkio/blkio.throttle.read_bps_device=8:0 1048576", "blkio/blkio.throttle.write_iops_device=8:0 100",
            "hugetlb/hugetlb.2MB.limit_in_bytes=4194304",
        ])
        XCTAssertEqual(try V1ResourcePlan.writes(for: LinuxResources(pids: LinuxPids(limit: 0))).map(\.value), ["max"])
        XCTAssertThrowsError(try V1ResourcePlan.writes(for: LinuxResources(unified: ["memory.high": "1"])))
    }

    func testV1Devices() throws {
        let writes = try V1ResourcePlan.deviceWrites([
            LinuxDeviceCgroup(allow: false, access: "rwm"),
            LinuxDeviceCgroup(allow: true, type: "c", major: 1, minor: 3, access: "rw"),
            LinuxDeviceCgroup(allow: true, type: "c", major: 136, access: "rwm"),
        ])
        XCTAssertEqual(writes.map(\.description), [
            "devices/devices.deny=a", "devices/devices.allow=c 1:3 rw", "devices/devices.allow=c 136:* rwm",
        ])
        XCTAssertThrowsError(try V1ResourcePlan.deviceWrites([LinuxDeviceCgroup(allow: true, type: "x")])) { error in
            XCTAssertTrue("\(error)".contains("'x'"))
        }
        XCTAssertThrowsError(try V1ResourcePlan.deviceWrites([LinuxDeviceCgroup(allow: true, access: "rwz")]))
    }

    func testV2Mapping() throws {
        let resources = LinuxResources(
            memory: LinuxMemory(limit: 100 << 20, reservation: 10 << 20, swap: 150 << 20),
            cpu: LinuxCPU(shares: 1024, quota: 50000, period: 100000, cpus: "0"),
            pids: LinuxPids(limit: -1),
            blockIO: LinuxBlockIO(weight: 1000, throttleWriteBpsDevice: [LinuxThrottleDevice(major: 8, minor: 0, rate: 10)]),
            hugepageLimits: [LinuxHugepageLimit(pageSize: "1GB", limit: 0)],
            unified: ["memory.high": "99999999"])
        XCTAssertEqual(try V2ResourcePlan.writes(for: resources).map(\.description), [
            "memory/memory.swap.max=52428800", "memory/memory.max=104857600", "memory/memory.low=10485760",
            "cpu/cpu.weight=39", "cpu/cpu.max=50000 100000", "cpuset/cpuset.cpus=0", "pids/pids.max=max",
            "io/io.weight=10000", "io/io.max=8:0 wbps=10", "hugetlb/hugetlb.1GB.max=0",
            "memory/memory.high=99999999",
        ])
        XCTAssertEqual(try V2ResourcePlan.writes(for: LinuxResources(blockIO: LinuxBlockIO(weight: 500)), bfqWeight: true)
            .map(\.description), ["io/io.bfq.weight=500"])
        XCTAssertEqual(try V2ResourcePlan.writes(for: LinuxResources(cpu: LinuxCPU(quota: -1))).map(\.value), ["max 100000"])
        XCTAssertEqual(V2ResourcePlan.weight(fromShares: 2), 1)
        XCTAssertEqual(V2ResourcePlan.weight(fromShares: 262_144), 10000)
        XCTAssertThrowsError(try V2ResourcePlan.writes(for: LinuxResources(memory: LinuxMemory(limit: 200, swap: 100))))
        XCTAssertThrowsError(try V2ResourcePlan.writes(for: LinuxResources(unified: ["../escape": "1"])))
        XCTAssertThrowsError(try V2ResourcePlan.writes(for: LinuxResources(network: LinuxNetwork(classID: 1))))
    }
}
