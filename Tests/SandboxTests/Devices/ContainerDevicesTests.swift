import LinuxKit
import Logging
import OCISpec
import XCTest
@testable import Sandbox

final class ContainerDevicesTests: XCTestCase {
    var sysfs: FakeSysfs!

    override func setUp() async throws {
        sysfs = try FakeSysfs()
    }

    override func tearDown() async throws {
        sysfs?.remove()
    }

    private func devices(_ numbers: [String: DeviceNumber], timeout: Duration = .seconds(5)) -> ContainerDevices {
        let hub = UeventHub(paths: sysfs.paths, timeout: timeout, logger: Logger(label: "test"))
        return ContainerDevices(locator: DeviceLocator(hub: hub), nodes: FakeDeviceNodes(numbers: numbers), logger: Logger(label: "test"))
    }

    private func spec(devices: [LinuxDevice], rules: [LinuxDeviceCgroup]? = nil, env: [String]? = nil) -> Spec {
        var spec = Spec()
        spec.process = Process(args: ["/bin/true"], env: env)
        var linux = Linux()
        linux.devices = devices
        if let rules {
            var resources = LinuxResources()
            resources.devices = rules
            linux.resources = resources
        }
        spec.linux = linux
        return spec
    }

    func testValidationNamesTheField() async throws {
        let cases: [(DeviceRequest, String)] = [
            (DeviceRequest(type: "", id: "02", containerPath: "/dev/xda"), "devices[0].type"),
            (DeviceRequest(type: "blk", containerPath: "/dev/xda"), "devices[0].id"),
            (DeviceRequest(type: "blk", id: "02", containerPath: ""), "devices[0].container_path"),
            (DeviceRequest(type: "floppy", id: "02", containerPath: "/dev/fd0"), "\"floppy\""),
        ]
        for (device, field) in cases {
            var spec = spec(devices: [])
            do {
                try await devices([:]).apply([device], to: &spec, containerID: "c1")
                XCTFail("\(device) accepted")
            } catch {
                XCTAssertEqual(error.kind, .invalidArgument)
                XCTAssertTrue(error.message.contains(field), "\(error.message) does not name \(field)")
            }
        }
    }

    func testBlockDeviceGetsGuestNumbersAndCgroupRules() async throws {
        try sysfs.disk("/sys/devices/pci0000:00/0000:00:02.0/virtio2/block/vdb")
        let guestNode = sysfs.paths.dev + "/vdb"
        var spec = spec(devices: [LinuxDevice(path: "/dev/xda", type: "b", major: 8, minor: 16),
                                  LinuxDevice(path: "/dev/null", type: "c", major: 1, minor: 3)],
                        rules: [LinuxDeviceCgroup(allow: false, access: "rwm"),
                                LinuxDeviceCgroup(allow: true, type: "b", major: 8, minor: 16, access: "rw")])
        try await devices([guestNode: DeviceNumber(type: "b", major: 254, minor: 16)])
            .apply([DeviceRequest(type: "blk", id: "02", vmPath: "/dev/vdb", containerPath: "/dev/xda")], to: &spec, containerID: "c1")
        XCTAssertEqual(spec.linux?.devices?[0], LinuxDevice(path: "/dev/xda", type: "b", major: 254, minor: 16))
        XCTAssertEqual(spec.linux?.devices?[1], LinuxDevice(path: "/dev/null", type: "c", major: 1, minor: 3))
        XCTAssertEqual(spec.linux?.resources?.devices, [
            LinuxDeviceCgroup(allow: false, access: "rwm"),
            LinuxDeviceCgroup(allow: true, type: "b", major: 254, minor: 16, access: "rw"),
            LinuxDeviceCgroup(allow: true, type: "b", major: 254, minor: 16, access: "rwm"),
        ])
    }

    func testMissingSpecEntryFailsAndLeavesTheSpecAlone() async throws {
        try sysfs.disk("/sys/devices/pci0000:00/0000:00:02.0/virtio2/block/vdb")
        let original = spec(devices: [LinuxDevice(path: "/dev/other", type: "b", major: 8, minor: 0)])
        var spec = original
        do {
            try await devices([sysfs.paths.dev + "/vdb": DeviceNumber(type: "b", major: 254, minor: 16)])
                .apply([DeviceRequest(type: "blk", id: "02", containerPath: "/dev/xda")], to: &spec, containerID: "c1")
            XCTFail("a device without a spec entry was accepted")
        } catch {
            XCTAssertTrue(error.message.contains("/dev/xda"), error.message)
        }
        XCTAssertEqual(spec, original)
    }

    func testDeviceThatNeverAppearsTimesOut() async throws {
        try sysfs.file("/sys/class/scsi_host/host0/scan")
        var spec = spec(devices: [LinuxDevice(path: "/dev/xda", type: "b", major: 8, minor: 0)])
        do {
            try await devices([:], timeout: .milliseconds(20))
                .apply([DeviceRequest(type: "scsi", id: "0:1", containerPath: "/dev/xda")], to: &spec, containerID: "c1")
            XCTFail("a device that never appeared was found")
        } catch {
            XCTAssertTrue(error.message.contains("timeout") && error.message.contains("SCSI disk 0:1"), error.message)
        }
    }

    func testNvdimmAndMMIO() async throws {
        try sysfs.directory("/sys/class/block/pmem1")
        try sysfs.file("/dev/pmem1")
        try sysfs.file("/dev/vdd")
        var spec = spec(devices: [LinuxDevice(path: "/dev/pm", type: "b", major: 259, minor: 9),
                                  LinuxDevice(path: "/dev/mm", type: "b", major: 252, minor: 9)])
        try await devices([sysfs.paths.dev + "/pmem1": DeviceNumber(type: "b", major: 259, minor: 1),
                           sysfs.paths.dev + "/vdd": DeviceNumber(type: "b", major: 254, minor: 48)])
            .apply([DeviceRequest(type: "nvdimm", vmPath: "/dev/pmem1", containerPath: "/dev/pm"),
                    DeviceRequest(type: "mmioblk", id: "/dev/vdd", vmPath: "/dev/vdd", containerPath: "/dev/mm")],
                   to: &spec, containerID: "c1")
        XCTAssertEqual(spec.linux?.devices?.map { "\($0.major):\($0.minor)" }, ["259:1", "254:48"])
    }

    func testVFIOGuestKernelRewritesPCIDeviceEnvironment() async throws {
        try sysfs.directory("/sys/devices/pci0000:00/0000:00:02.0/pci_bus/0000:01")
        try sysfs.directory("/sys/devices/pci0000:00/0000:00:02.0/0000:01:00.0")
        try sysfs.directory("/sys/devices/pci0000:00/0000:00:05.0")
        let info = #"{"0000:3b:00.0":{"generic":{"deviceID":"0000:3b:00.0"}},"0000:3b:00.1":{}}"#
        var spec = spec(devices: [], env: [
            "PATH=/bin", "PCIDEVICE_INTEL_COM_SRIOV=0000:3b:00.0,0000:3b:00.1",
            "PCIDEVICE_INTEL_COM_SRIOV_INFO=\(info)", "PCIDEVICE_OTHER=not-an-address",
        ])
        try await devices([:]).apply([DeviceRequest(type: "vfio-pci-gk", id: "12", containerPath: "/dev/vfio/12",
                                                    options: ["0000:3b:00.0=02/00", "0000:3b:00.1=05", "0000:3c:00.0="])],
                                     to: &spec, containerID: "c1")
        XCTAssertEqual(spec.process?.env, [
            "PATH=/bin", "PCIDEVICE_INTEL_COM_SRIOV=0000:01:00.0,0000:00:05.0",
            #"PCIDEVICE_INTEL_COM_SRIOV_INFO={"0000:01:00.0":{"generic":{"deviceID":"0000:01:00.0"}},"0000:00:05.0":{}}"#,
            "PCIDEVICE_OTHER=not-an-address",
        ])
        XCTAssertEqual(spec.linux?.devices, [])
    }

    func testAVFIODeviceBringsTheGuestsInfinibandNodesAndADiskDoesNot() async throws {
        let nodes = [CharacterDeviceNode(name: "rdma_cm", major: 10, minor: 58, mode: 0o666),
                     CharacterDeviceNode(name: "uverbs0", major: 231, minor: 192, mode: 0o666, uid: 0, gid: 44)]
        let directories = [sysfs.paths.dev + "/infiniband": nodes]
        func located(_ numbers: [String: DeviceNumber]) -> ContainerDevices {
            let hub = UeventHub(paths: sysfs.paths, timeout: .seconds(5), logger: Logger(label: "test"))
            return ContainerDevices(locator: DeviceLocator(hub: hub), nodes: FakeDeviceNodes(numbers: numbers, directories: directories),
                                    logger: Logger(label: "test"))
        }
        try sysfs.directory("/sys/devices/pci0000:00/0000:00:05.0")
        var vfio = spec(devices: [LinuxDevice(path: "/dev/infiniband/rdma_cm", type: "c", major: 10, minor: 58)])
        try await located([:]).apply([DeviceRequest(type: "vfio-pci-gk", id: "12", containerPath: "/dev/vfio/12",
                                                    options: ["0000:3b:00.0=05"])], to: &vfio, containerID: "c1")
        // The spec's own entry is kept; the node it lacked is added with the guest's mode and owner.
        XCTAssertEqual(vfio.linux?.devices, [
            LinuxDevice(path: "/dev/infiniband/rdma_cm", type: "c", major: 10, minor: 58),
            LinuxDevice(path: "/dev/infiniband/uverbs0", type: "c", major: 231, minor: 192, fileMode: 0o666, uid: 0, gid: 44),
        ])

        try sysfs.disk("/sys/devices/pci0000:00/0000:00:02.0/virtio2/block/vdb")
        var disk = spec(devices: [LinuxDevice(path: "/dev/xda", type: "b", major: 8, minor: 16)])
        try await located([sysfs.paths.dev + "/vdb": DeviceNumber(type: "b", major: 254, minor: 16)])
            .apply([DeviceRequest(type: "blk", id: "02", vmPath: "/dev/vdb", containerPath: "/dev/xda")], to: &disk, containerID: "c2")
        XCTAssertEqual(disk.linux?.devices?.map(\.path), ["/dev/xda"])
    }

    func testLiveNodesListTheCharacterDevicesOfADirectory() {
        let found = LiveDeviceNodes().characterDevices(in: "/dev")
        let null = found.first { $0.name == "null" }
        XCTAssertEqual(null.map { [$0.major, $0.minor] }, [1, 3])
        XCTAssertEqual(null?.mode, 0o666)
        XCTAssertFalse(found.contains { $0.name == "pts" }, "a directory was listed")
        XCTAssertEqual(LiveDeviceNodes().characterDevices(in: "/no/such/directory"), [])
    }

    func testPCIDeviceEnvironmentWithUnknownHostAddressFails() async throws {
        try sysfs.directory("/sys/devices/pci0000:00/0000:00:05.0")
        var spec = spec(devices: [], env: ["PCIDEVICE_X=0000:99:00.0"])
        do {
            try await devices([:]).apply([DeviceRequest(type: "vfio-pci-gk", id: "1", containerPath: "/dev/vfio/1",
                                                        options: ["0000:3b:00.0=05"])], to: &spec, containerID: "c1")
            XCTFail("an untranslatable PCIDEVICE value was accepted")
        } catch {
            XCTAssertTrue(error.message.contains("0000:99:00.0"), error.message)
        }
    }

    func testVFIOPCIBindsTheDriverAndGivesTheGroup() async throws {
        let device = "/sys/bus/pci/devices/0000:00:06.0"
        try sysfs.directory("/sys/devices/pci0000:00/0000:00:06.0")
        try sysfs.file(device + "/driver_override")
        try sysfs.file("/sys/devices/drivers/virtio-pci/unbind")
        try sysfs.link(device + "/driver", to: sysfs.root + "/sys/devices/drivers/virtio-pci")
        try sysfs.file("/sys/bus/pci/drivers_probe")
        try sysfs.link(device + "/iommu_group", to: "../../../../kernel/iommu_groups/4")
        try sysfs.file("/dev/vfio/4")
        var spec = spec(devices: [LinuxDevice(path: "/dev/vfio/15", type: "c", major: 240, minor: 1)],
                        env: ["PCIDEVICE_GPU=0000:af:00.0"])
        try await devices([sysfs.paths.dev + "/vfio/4": DeviceNumber(type: "c", major: 241, minor: 0)])
            .apply([DeviceRequest(type: "vfio-pci", id: "15", containerPath: "/dev/vfio/15", options: ["0000:af:00.0=06"])],
                   to: &spec, containerID: "c1")
        XCTAssertEqual(sysfs.read(device + "/driver_override"), "vfio-pci")
        XCTAssertEqual(sysfs.read("/sys/devices/drivers/virtio-pci/unbind"), "0000:00:06.0")
        XCTAssertEqual(sysfs.read("/sys/bus/pci/drivers_probe"), "0000:00:06.0")
        XCTAssertEqual(spec.linux?.devices, [LinuxDevice(path: "/dev/vfio/4", type: "c", major: 241, minor: 0)])
        XCTAssertEqual(spec.process?.env, ["PCIDEVICE_GPU=0000:00:06.0"])
    }
}
