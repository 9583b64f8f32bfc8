import XCTest
@testable import Cgroups

final class CgroupLayoutTests: XCTestCase {
    let hybridMountInfo = """
        31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
        32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
        35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
        40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
        41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw,nsdelegate
        """

    func testHybridDetection() {
        let layout = CgroupLayout.parse(mountInfo: hybridMountInfo)
        XCTAssertEqual(layout.mode, .hybrid)
        XCTAssertEqual(layout.v1Mounts["cpu"], "/sys/fs/cgroup/cpu,cpuacct")
        XCTAssertEqual(layout.v1Mounts["cpuacct"], "/sys/fs/cgroup/cpu,cpuacct")
        XCTAssertEqual(layout.v1Mounts["memory"], "/sys/fs/cgroup/memory")
        XCTAssertEqual(layout.v1Controllers, ["cpu", "cpuacct", "memory"])
        XCTAssertEqual(layout.unifiedMount, "/sys/fs/cgroup/unified")
        XCTAssertNil(layout.v1Mounts["xattr"])
    }

    func testPureV2AndPureV1() {
        let v2 = CgroupLayout.parse(mountInfo: "30 23 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate")
        XCTAssertEqual(v2.mode, .v2)
        XCTAssertEqual(v2.unifiedMount, "/sys/fs/cgroup")
        let v1 = CgroupLayout.parse(mountInfo: "35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory")
        XCTAssertEqual(v1.mode, .v1)
        XCTAssertNil(v1.unifiedMount)
    }

    func testOptionalFieldsAndEscapedSpacesBeforeTheSeparator() {
        // Optional fields (shared:, master:) sit between the mount options and the lone "-";
        // a mount point's own spaces are escaped, so only the separator is a "-" field.
        let text = """
            50 31 0:40 / /sys/fs/cgroup/pids rw,nosuid shared:12 master:3 - cgroup cgroup rw,pids
            51 31 0:41 / /run/a\\040-\\040b rw shared:13 - cgroup2 none rw
            52 31 0:42 / /no/separator rw cgroup cgroup rw,memory
            53 31 0:43 / /short - cgroup
            """
        let layout = CgroupLayout.parse(mountInfo: text)
        XCTAssertEqual(layout.v1Mounts, ["pids": "/sys/fs/cgroup/pids"])
        XCTAssertEqual(layout.unifiedMount, "/run/a - b")
    }

    func testEscapedMountPoint() {
        XCTAssertEqual(CgroupLayout.unescapeMountField("/a\\040b"), "/a b")
    }

    func testThisMachineIsDetected() throws {
        let layout = try CgroupLayout.detect()
        XCTAssertNotEqual(layout.v1Mounts.isEmpty && layout.unifiedMount == nil, true)
    }

    func testCgroupsPathResolution() throws {
        XCTAssertEqual(try CgroupPath.resolve(cgroupsPath: "", containerID: "abc"), "/abc")
        XCTAssertEqual(try CgroupPath.resolve(cgroupsPath: "/kubepods/pod1/c1", containerID: "c1"), "/kubepods/pod1/c1")
        XCTAssertEqual(try CgroupPath.resolve(cgroupsPath: "c1", containerID: "c1", parent: "/kata"), "/kata/c1")
        XCTAssertEqual(try CgroupPath.resolve(cgroupsPath: "system.slice:kata:c1", containerID: "c1"), "/system.slice/kata/c1")
        XCTAssertEqual(try CgroupPath.resolve(cgroupsPath: "/a//b/./c", containerID: "x"), "/a/b/c")
        XCTAssertThrowsError(try CgroupPath.resolve(cgroupsPath: "/../etc", containerID: "x"))
        XCTAssertThrowsError(try CgroupPath.resolve(cgroupsPath: "/", containerID: "x"))
        XCTAssertThrowsError(try CgroupPath.resolve(cgroupsPath: "", containerID: "../x"))
        XCTAssertThrowsError(try CgroupPath.resolve(cgroupsPath: "a\u{0}b", containerID: "x"))
    }

    func testHugePageSizes() throws {
        XCTAssertEqual(try HugePageSize.normalize("2MB"), "2MB")
        XCTAssertEqual(try HugePageSize.normalize("2048kB"), "2MB")
        XCTAssertEqual(try HugePageSize.normalize("1GB"), "1GB")
        XCTAssertEqual(try HugePageSize.normalize("64KB"), "64KB")
        XCTAssertThrowsError(try HugePageSize.normalize("big"))
    }
}
