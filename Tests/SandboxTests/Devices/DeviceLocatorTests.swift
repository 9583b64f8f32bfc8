import Glibc
import LinuxKit
import Logging
import XCTest
@testable import Sandbox

final class DeviceLocatorTests: XCTestCase {
    var sysfs: FakeSysfs!

    override func setUp() async throws {
        sysfs = try FakeSysfs()
    }

    override func tearDown() async throws {
        sysfs?.remove()
    }

    private func locator(timeout: Duration = .seconds(5)) -> DeviceLocator {
        DeviceLocator(hub: UeventHub(paths: sysfs.paths, timeout: timeout, logger: Logger(label: "test")))
    }

    private func block(_ devpath: String) -> Uevent {
        Uevent(action: "add", devpath: devpath, fields: ["SUBSYSTEM": "block", "DEVNAME": DeviceLocator.lastComponent(devpath)])
    }

    // MARK: PCI paths

    func testPCIPathParsing() throws {
        XCTAssertEqual(try PCIPath.parse("02").get().hops, [.init(slot: 2, function: 0)])
        XCTAssertEqual(try PCIPath.parse("1f/01.3").get().hops, [.init(slot: 0x1f, function: 0), .init(slot: 1, function: 3)])
        let pxb = try PCIPath.parse("20/00/02").get()
        XCTAssertEqual(pxb.rootComplex, "20")
        XCTAssertEqual(pxb.hops.count, 2)
        XCTAssertEqual(try PCIPath.parse("02/00/01").get().rootComplex, "00")  // nested hot-plug on bus 0
        for bad in ["", "/", "02/", "20", "g1", "2000", "02.8", "02.1.1", "-1", "02//03", String(repeating: "01/", count: 20) + "01"] {
            if case .success(let path) = PCIPath.parse(bad) { XCTFail("\"\(bad)\" parsed as \(path.hops)") }
        }
    }

    func testPCIPathFollowsBridges() throws {
        try sysfs.directory("/sys/devices/pci0000:00/0000:00:02.0/pci_bus/0000:01")
        let path = try PCIPath.parse("02/03").get()
        XCTAssertEqual(try path.devpath(sysfs: sysfs.paths.sysfs).get(), "/devices/pci0000:00/0000:00:02.0/0000:01:03.0")
        // A bridge exposing two buses is ambiguous.
        try sysfs.directory("/sys/devices/pci0000:00/0000:00:02.0/pci_bus/0000:02")
        guard case .failure(let error) = path.devpath(sysfs: sysfs.paths.sysfs) else { return XCTFail("two buses accepted") }
        XCTAssertTrue(error.reason.contains("exactly one PCI bus"), error.description)
    }

    func testPCIAddress() {
        XCTAssertEqual(PCIAddress("0000:3b:00.1")?.description, "0000:3b:00.1")
        XCTAssertEqual(PCIAddress("3b:1f.7")?.description, "0000:3b:1f.7")
        for bad in ["", "0000:3b:00", "0000:3b:20.0", "0000:3b:00.8", "zzzz:00:00.0", "0000:003:00.0", "0000:3b:00.0.0"] {
            XCTAssertNil(PCIAddress(bad), bad)
        }
    }

    // MARK: virtio-blk

    func testVirtioBlockBehindABridgeFoundByUevent() async throws {
        try sysfs.directory("/sys/devices/pci0000:00/0000:00:02.0/pci_bus/0000:01")
        let locator = locator()
        async let node = locator.virtioBlock(pciPath: "02/01")
        while locator.hub.pendingWaiters == 0 { await Task.yield() }
        locator.hub.ingest(block("/devices/pci0000:00/0000:00:03.0/virtio1/block/vdx"))          // other slot
        locator.hub.ingest(block("/devices/pci0000:00/0000:00:02.0/0000:01:01.0/virtio4/block/vdb"))
        let found = try await node
        XCTAssertEqual(found, sysfs.paths.dev + "/vdb")
    }

    func testVirtioBlockAlreadyInSysfsIsFoundWithoutAnEvent() async throws {
        try sysfs.disk("/sys/devices/pci0000:00/0000:00:03.0/virtio1/block/vdc")
        let found = try await locator(timeout: .seconds(30)).virtioBlock(pciPath: "03")
        XCTAssertEqual(found, sysfs.paths.dev + "/vdc")
    }

    func testVirtioBlockTimeoutNamesThePCIPath() async throws {
        do {
            _ = try await locator(timeout: .milliseconds(20)).virtioBlock(pciPath: "05")
            XCTFail("found a disk that never appeared")
        } catch {
            XCTAssertEqual(error.errno, ETIMEDOUT)
            XCTAssertTrue(error.message.contains("virtio-blk disk at PCI path 05"), error.message)
        }
    }

    func testVirtioBlockBadPathIsInvalidArgumentAndMissingBridgeIsNamed() async throws {
        do {
            _ = try await locator().virtioBlock(pciPath: "zz")
            XCTFail("bad path accepted")
        } catch {
            XCTAssertEqual(error.kind, .invalidArgument)
        }
        do {
            _ = try await locator().virtioBlock(pciPath: "07/01")
            XCTFail("missing bridge accepted")
        } catch {
            XCTAssertTrue(error.message.contains("0000:00:07.0/pci_bus"), error.message)
        }
    }

    // MARK: SCSI

    func testSCSIScansEveryHostThenFindsTheDisk() async throws {
        try sysfs.file("/sys/class/scsi_host/host0/scan")
        try sysfs.file("/sys/class/scsi_host/host1/scan")
        let locator = locator()
        // The kernel answers the scan at once: the event is seen before the waiter exists.
        locator.hub.ingest(block("/devices/pci0000:00/0000:00:05.0/virtio2/host0/target0:0:1/0:0:1:2/block/sdb"))
        let node = try await locator.scsiDisk(address: "1:2")
        XCTAssertEqual(node, sysfs.paths.dev + "/sdb")
        XCTAssertEqual(sysfs.read("/sys/class/scsi_host/host0/scan"), "0 1 2")
        XCTAssertEqual(sysfs.read("/sys/class/scsi_host/host1/scan"), "0 1 2")
    }

    func testSCSIMatcherWantsTheExactTargetAndLun() {
        let matcher = UeventMatcher.scsiDisk(id: 1, lun: 2, what: "1:2")
        XCTAssertTrue(matcher.matches(block("/devices/x/host3/target3:0:1/3:0:1:2/block/sdc")))
        XCTAssertFalse(matcher.matches(block("/devices/x/host0/target0:0:11/0:0:11:2/block/sdc")))
        XCTAssertFalse(matcher.matches(block("/devices/x/host0/target0:0:1/0:0:1:22/block/sdc")))
        XCTAssertFalse(matcher.matches(block("/devices/x/host0/target0:1:1/0:1:1:2/block/sdc")))
        XCTAssertFalse(matcher.matches(block("/devices/x/host0/target0:0:1/0:0:1:2/block/sdc/sdc1")))
    }

    func testSCSITimeoutAfterScanAndBadAddress() async throws {
        try sysfs.file("/sys/class/scsi_host/host0/scan")
        do {
            _ = try await locator(timeout: .milliseconds(20)).scsiDisk(address: "3:0")
            XCTFail("found a disk that never appeared")
        } catch {
            XCTAssertTrue(error.message.contains("SCSI disk 3:0"), error.message)
        }
        XCTAssertEqual(sysfs.read("/sys/class/scsi_host/host0/scan"), "0 3 0")
        for bad in ["", "1", "1:", ":1", "a:b", "1:2:3", "-1:0", "99999999999:0"] {
            do {
                _ = try await locator().scsiDisk(address: bad)
                XCTFail("\"\(bad)\" accepted")
            } catch {
                XCTAssertEqual(error.kind, .invalidArgument, bad)
            }
        }
    }

    func testSCSIWithoutHostsFailsAtOnce() async throws {
        do {
            _ = try await locator(timeout: .seconds(30)).scsiDisk(address: "0:0")
            XCTFail("no SCSI host, yet found")
        } catch {
            XCTAssertTrue(error.message.contains("no SCSI host"), error.message)
        }
    }

    func testSCSIAlreadyPresentSkipsTheScan() async throws {
        try sysfs.disk("/sys/bus/scsi/devices/0:0:4:0/block/sdd")
        let node = try await locator(timeout: .seconds(30)).scsiDisk(address: "4:0")
        XCTAssertEqual(node, sysfs.paths.dev + "/sdd")
    }

    /// The kernel lists a disk in sysfs before devtmpfs has made its node: taking it then
    /// gave the mount ENOENT (seen in a VM test); the add event, sent after the node exists,
    /// must decide.
    func testSCSIListedBeforeItsNodeExistsIsNotTaken() async throws {
        try sysfs.file("/sys/class/scsi_host/host0/scan")
        try sysfs.directory("/sys/bus/scsi/devices/0:0:4:0/block/sdd")
        do {
            let node = try await locator(timeout: .milliseconds(50)).scsiDisk(address: "4:0")
            XCTFail("took \(node) before its node existed")
        } catch {
            XCTAssertEqual(error.errno, ETIMEDOUT, error.message)
        }
        let locator = locator()
        locator.hub.ingest(block("/devices/pci0000:00/0000:00:05.0/virtio2/host0/target0:0:4/0:0:4:0/block/sdd"))
        let node = try await locator.scsiDisk(address: "4:0")
        XCTAssertEqual(node, sysfs.paths.dev + "/sdd")
    }

    // MARK: pmem, mmio, PCI, net, vfio

    func testPmemMatchesOnlyTheACPIRegion() async throws {
        let locator = locator()
        locator.hub.ingest(block("/devices/virtual/block/pmem0"))
        locator.hub.ingest(block("/devices/LNXSYSTM:00/LNXSYBUS:00/ACPI0012:00/ndbus0/region0/namespace0.0/block/pmem0"))
        let node = try await locator.pmem(node: "/dev/pmem0")
        XCTAssertEqual(node, sysfs.paths.dev + "/pmem0")
        XCTAssertFalse(UeventMatcher.pmem("pmem0", what: "").matches(block("/devices/virtual/block/pmem0")))
        do {
            _ = try await locator.pmem(node: "/dev/../pmem0")
            XCTFail("path escape accepted")
        } catch {
            XCTAssertEqual(error.kind, .invalidArgument)
        }
    }

    func testMMIONodeAlreadyThereOrAwaited() async throws {
        try sysfs.file("/dev/vdb")
        let locator = locator()
        let present = try await locator.mmioBlock(node: "/dev/vdb")
        XCTAssertEqual(present, sysfs.paths.dev + "/vdb")
        locator.hub.ingest(block("/devices/virtio-mmio-cmdline/virtio-mmio.1/virtio1/block/vdc"))
        let awaited = try await locator.mmioBlock(node: "/dev/vdc")
        XCTAssertEqual(awaited, sysfs.paths.dev + "/vdc")
    }

    func testNetInterfaceAtAPCIPath() async throws {
        let locator = locator()
        locator.hub.ingest(Uevent(action: "add", devpath: "/devices/pci0000:00/0000:00:04.0/virtio3/net/eth1",
                                  fields: ["SUBSYSTEM": "net", "INTERFACE": "eth1"]))
        let name = try await locator.netInterface(pciPath: "04")
        XCTAssertEqual(name, "eth1")
        try sysfs.directory("/sys/devices/pci0000:00/0000:00:06.0/virtio5/net/eth2")
        let present = try await locator.netInterface(pciPath: "06")
        XCTAssertEqual(present, "eth2")
    }

    func testPCIDeviceAndVFIOGroup() async throws {
        let locator = locator()
        locator.hub.ingest(Uevent(action: "add", devpath: "/devices/pci0000:00/0000:00:08.0", fields: ["SUBSYSTEM": "pci"]))
        let devpath = try await locator.pciDevice(try PCIPath.parse("08").get())
        XCTAssertEqual(devpath, "/devices/pci0000:00/0000:00:08.0")
        locator.hub.ingest(Uevent(action: "add", devpath: "/devices/virtual/vfio/7", fields: ["SUBSYSTEM": "vfio", "DEVNAME": "vfio/7"]))
        let node = try await locator.vfioGroup("7")
        XCTAssertEqual(node, sysfs.paths.dev + "/vfio/7")
    }
}
