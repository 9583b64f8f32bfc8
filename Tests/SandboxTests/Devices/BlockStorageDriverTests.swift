import LinuxKit
import Logging
import XCTest
@testable import Sandbox

final class BlockStorageDriverTests: XCTestCase {
    var sysfs: FakeSysfs!
    var system: InMemorySystemCalls!
    var files: InMemoryStorageSystemCalls!

    override func setUp() async throws {
        sysfs = try FakeSysfs()
        system = InMemorySystemCalls()
        files = InMemoryStorageSystemCalls(base: system)
    }

    override func tearDown() async throws {
        sysfs?.remove()
    }

    private func context(timeout: Duration = .seconds(5), owner: String? = nil) -> StorageContext {
        StorageContext(system: system, files: files, hotplugTimeout: timeout, containerID: owner, logger: Logger(label: "test"))
    }

    private func locator() -> DeviceLocator {
        DeviceLocator(hub: UeventHub(paths: sysfs.paths, timeout: .seconds(30), logger: Logger(label: "test")))
    }

    private var calls: [String] { system.state.withLock { $0.calls } }
    private var mounts: [String] { calls.filter { $0.hasPrefix("mount ") } }

    func testBlockByPCIPathMountsTheFoundDisk() async throws {
        try sysfs.directory("/sys/devices/pci0000:00/0000:00:02.0/pci_bus/0000:01")
        try sysfs.disk("/sys/devices/pci0000:00/0000:00:02.0/0000:01:01.0/virtio3/block/vdb")
        let storage = StorageRequest(driver: "blk", source: "02/01", fsType: "ext4", options: ["ro"], mountPoint: "/run/kata-containers/shared/containers/c1")
        let mounted = try await BlockDriver(locator: locator()).mount(storage, context: context())
        XCTAssertEqual(mounted.source, sysfs.paths.dev + "/vdb")
        XCTAssertTrue(mounted.isMount)
        XCTAssertEqual(mounts.count, 1)
        XCTAssertTrue(mounts[0].hasPrefix("mount ext4 \(sysfs.paths.dev)/vdb /run/kata-containers/shared/containers/c1"), mounts[0])
    }

    func testBlockDevSourceMustBeABlockNode() async throws {
        files.setStatus("/dev/loop7", FileStatus(kind: .block, permissions: 0o660, deviceNumber: 7 << 8 | 7))
        files.setStatus("/dev/notblock", FileStatus(kind: .regular, permissions: 0o644))
        let driver = BlockDriver(locator: locator())
        _ = try await driver.mount(StorageRequest(driver: "blk", source: "/dev/loop7", fsType: "ext4", mountPoint: "/mnt/a"), context: context())
        XCTAssertEqual(mounts.count, 1)
        for source in ["/dev/notblock", "/dev/missing"] {
            do {
                _ = try await driver.mount(StorageRequest(driver: "blk", source: source, fsType: "ext4", mountPoint: "/mnt/b"), context: context())
                XCTFail("\(source) accepted")
            } catch {
                XCTAssertEqual(error.kind, .invalidArgument)
                XCTAssertTrue(error.message.contains(source), error.message)
            }
        }
        XCTAssertEqual(mounts.count, 1)
    }

    func testSCSIDiskThatNeverAppearsLeavesNothingMounted() async throws {
        try sysfs.file("/sys/class/scsi_host/host0/scan")
        let storage = StorageRequest(driver: "scsi", source: "0:1", fsType: "ext4", mountPoint: "/run/kata-containers/shared/containers/c2")
        do {
            _ = try await SCSIDriver(locator: locator()).mount(storage, context: context(timeout: .milliseconds(20)))
            XCTFail("a disk that never appeared was mounted")
        } catch {
            XCTAssertTrue(error.message.contains("timeout after 20ms waiting for SCSI disk 0:1"), error.message)
        }
        XCTAssertEqual(mounts, [])
        XCTAssertEqual(sysfs.read("/sys/class/scsi_host/host0/scan"), "0 0 1")
    }

    func testMountFailureLeavesNothingAndUnsupportedDriverOptionsAreRefused() async throws {
        try sysfs.disk("/sys/devices/pci0000:00/0000:00:04.0/virtio1/block/vdc")
        system.state.withLock { $0.failures["mount"] = EINVAL }
        let driver = BlockDriver(locator: locator())
        do {
            _ = try await driver.mount(StorageRequest(driver: "blk", source: "04", fsType: "ext4", mountPoint: "/mnt/c"), context: context())
            XCTFail("mount failure not reported")
        } catch {
            XCTAssertEqual(error.errno, EINVAL)
        }
        system.state.withLock { $0.failures = [:] }
        for option in ["create_filesystem", "encryption_key=ephemeral"] {
            do {
                _ = try await driver.mount(StorageRequest(driver: "blk", driverOptions: [option], source: "04", fsType: "ext4", mountPoint: "/mnt/c"),
                                           context: context())
                XCTFail("\(option) accepted")
            } catch {
                XCTAssertEqual(error.kind, .unimplemented)
            }
        }
        XCTAssertEqual(calls.filter { $0.hasPrefix("umount") }, [])
        XCTAssertEqual(mounts.count, 1)  // the failed attempt only
    }

    func testNvdimmWithDaxAndMMIO() async throws {
        try sysfs.directory("/sys/class/block/pmem0")
        try sysfs.file("/dev/pmem0")
        try sysfs.file("/dev/vdd")
        _ = try await NVDIMMDriver(locator: locator())
            .mount(StorageRequest(driver: "nvdimm", source: "/dev/pmem0", fsType: "ext4", options: ["dax"], mountPoint: "/mnt/pmem"), context: context())
        _ = try await MMIOBlockDriver(locator: locator())
            .mount(StorageRequest(driver: "mmioblk", source: "/dev/vdd", fsType: "xfs", options: ["nouuid"], mountPoint: "/mnt/mmio"), context: context())
        XCTAssertEqual(mounts.count, 2)
        XCTAssertTrue(mounts[0].contains("\(sysfs.paths.dev)/pmem0 /mnt/pmem") && mounts[0].contains("data=dax"), mounts[0])
        XCTAssertTrue(mounts[1].contains("mount xfs \(sysfs.paths.dev)/vdd /mnt/mmio") && mounts[1].contains("nouuid"), mounts[1])
    }

    func testRefCountedThroughTheStorageManager() async throws {
        try sysfs.disk("/sys/devices/pci0000:00/0000:00:02.0/virtio3/block/vdb")
        var registry = StorageDriverRegistry.standard()
        registry.registerBlockDrivers(locator: locator())
        let manager = StorageManager(registry: registry) { [system, files] owner in
            StorageContext(system: system!, files: files!, logger: Logger(label: "test"))
        }
        let storage = StorageRequest(driver: "blk", source: "02", fsType: "ext4", mountPoint: "/run/kata-containers/sandbox/storage/vol")
        _ = try await manager.add([storage], owner: .container("a"))
        _ = try await manager.add([storage], owner: .container("b"))
        XCTAssertEqual(mounts.count, 1)
        await manager.release(owner: .container("a"))
        XCTAssertEqual(calls.filter { $0.hasPrefix("umount") }, [])
        await manager.release(owner: .container("b"))
        XCTAssertEqual(calls.filter { $0.hasPrefix("umount") }, ["umount /run/kata-containers/sandbox/storage/vol"])
    }

    func testRegistryServesTheBlockDriverNames() {
        var registry = StorageDriverRegistry.standard()
        registry.registerBlockDrivers(locator: locator())
        for name in ["blk", "virtio-blk", "mmioblk", "scsi", "virtio-scsi", "nvdimm"] {
            XCTAssertTrue(registry.contains(name), name)
        }
    }
}
