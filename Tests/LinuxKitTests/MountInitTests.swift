import Glibc
import Logging
import XCTest
@testable import LinuxKit

final class MountInitTests: XCTestCase {
    private let procCgroups = """
        #subsys_name\thierarchy\tnum_cgroups\tenabled
        cpuset\t0\t1\t1
        cpu\t0\t1\t1
        memory\t0\t1\t1
        devices\t0\t1\t1
        freezer\t0\t1\t0
        pids\t0\t1\t1
        bogus\tx\t1\t1
        """

    func testV2IsOneCgroup2MountWithNsdelegate() {
        let (mounts, warning) = InitMounts.cgroupMounts(v2: true, procCgroups: procCgroups)
        XCTAssertNil(warning)
        XCTAssertEqual(mounts, [InitMount("cgroup2", "cgroup2", "/sys/fs/cgroup", ["nosuid", "nodev", "noexec", "relatime", "nsdelegate"])])
    }

    func testV1MountsEnabledControllersThenRemountsReadOnly() {
        let (mounts, warning) = InitMounts.cgroupMounts(v2: false, procCgroups: procCgroups)
        XCTAssertNil(warning)
        XCTAssertEqual(mounts.map(\.target), [
            "/sys/fs/cgroup", "/sys/fs/cgroup/cpu", "/sys/fs/cgroup/cpuset", "/sys/fs/cgroup/memory",
            "/sys/fs/cgroup/devices", "/sys/fs/cgroup/pids", "/sys/fs/cgroup",
        ])
        XCTAssertEqual(mounts[1].options.last, "cpu")
        XCTAssertTrue(mounts.last?.options.contains("remount") ?? false)
        XCTAssertTrue(mounts.last?.options.contains("ro") ?? false)
    }

    func testV1WithoutDevicesControllerMountsNothing() {
        let (mounts, warning) = InitMounts.cgroupMounts(v2: false, procCgroups: "cpu\t0\t1\t1\n")
        XCTAssertEqual(mounts, [])
        XCTAssertNotNil(warning)
    }

    func testApplySkipsAlreadyMountedAndParsesOptions() throws {
        let system = InMemorySystemCalls()
        system.addFile("/proc/self/mounts", "proc /proc proc rw 0 0\nudev /dev devtmpfs rw 0 0\n")
        try InitMounts.apply(InitMounts.base, system: system, logger: Logger(label: "t"))
        let mounts = system.calls.filter { $0.hasPrefix("mount ") }
        XCTAssertEqual(mounts, [
            "mount sysfs sysfs /sys flags=14 data=",
            "mount tmpfs tmpfs /dev/shm flags=6 data=mode=1777",
            "mount devpts devpts /dev/pts flags=10 data=gid=5,mode=0620,ptmxmode=0666",
            "mount tmpfs tmpfs /run flags=6 data=mode=0755",
        ])
        XCTAssertTrue(system.calls.contains("mkdir /dev/pts 755"))
    }

    func testApplyRemembersWhatItMounted() throws {
        // The table is read once; what apply mounted itself counts as mounted afterwards.
        let system = InMemorySystemCalls()
        system.addFile("/proc/self/mounts", "proc /proc proc rw 0 0\n")
        let twice = [InitMount("tmpfs", "tmpfs", "/run", ["mode=0755"]), InitMount("tmpfs", "tmpfs", "/run", ["mode=0755"])]
        try InitMounts.apply(twice, system: system, logger: Logger(label: "t"))
        XCTAssertEqual(system.calls.filter { $0.hasPrefix("mount ") }, ["mount tmpfs tmpfs /run flags=0 data=mode=0755"])
    }

    func testApplyStopsAtFirstFailure() {
        let system = InMemorySystemCalls()
        system.state.withLock { $0.failures["mount"] = EPERM }
        XCTAssertThrowsError(try InitMounts.apply(InitMounts.base, system: system, logger: Logger(label: "t"))) { error in
            XCTAssertEqual((error as? SyscallError)?.errno, EPERM)
            XCTAssertTrue("\(error)".contains("/proc"), "\(error)")
        }
    }

    func testPtmxLinkAndHostname() throws {
        let system = InMemorySystemCalls()
        system.addFile("/dev/ptmx")
        try InitMounts.linkPtmx(system: system)
        XCTAssertEqual(system.fileKind("/dev/ptmx")?.kind, .symlink)
        XCTAssertEqual(HostnameInit.initialHostname(system: system), "localhost")
        system.addFile("/etc/hostname", "guest-7 extra\n")
        XCTAssertEqual(HostnameInit.initialHostname(system: system), "guest-7")
        system.addFile("/etc/hostname", "\n")
        XCTAssertEqual(HostnameInit.initialHostname(system: system), "localhost")
        XCTAssertNotNil(HostnameInit.validate(String(repeating: "a", count: 65)))
        XCTAssertNil(HostnameInit.validate("ok"))
    }

    func testMountOptionParsing() {
        let parsed = ParsedMountOptions.parse(["rw,nosuid", "nodev", "size=64m", "ro", "mode=1777"])
        XCTAssertEqual(parsed.flags, [.noSuid, .noDev, .readOnly])
        XCTAssertEqual(parsed.data, "size=64m,mode=1777")
        XCTAssertEqual(ParsedMountOptions.parse(["rbind"]).flags, [.bind, .recursive])
    }
}
