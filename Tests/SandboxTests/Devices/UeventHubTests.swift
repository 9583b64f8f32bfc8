import LinuxKit
import Logging
import XCTest
@testable import Sandbox

final class UeventHubTests: XCTestCase {
    var sysfs: FakeSysfs!

    override func setUp() async throws {
        sysfs = try FakeSysfs()
    }

    override func tearDown() async throws {
        sysfs?.remove()
    }

    private func hub(timeout: Duration = .seconds(5)) -> UeventHub {
        UeventHub(paths: sysfs.paths, timeout: timeout, logger: Logger(label: "test"))
    }

    private func disk(_ name: String, at parent: String = "/devices/pci0000:00/0000:00:02.0", action: String = "add") -> Uevent {
        Uevent(action: action, devpath: "\(parent)/virtio3/block/\(name)", fields: ["SUBSYSTEM": "block", "DEVNAME": name])
    }

    func testDeviceSeenBeforeTheRequestIsFoundAtOnce() async throws {
        let hub = hub()
        hub.ingest(disk("vda"))
        let matcher = UeventMatcher.virtioBlock(under: "/devices/pci0000:00/0000:00:02.0", what: "disk")
        let found = try await hub.wait(for: matcher, extract: { $0.devname })
        XCTAssertEqual(found, "vda")
        XCTAssertEqual(hub.pendingWaiters, 0)
    }

    func testWaiterWokenByALaterAddThroughTheSource() async throws {
        let hub = hub()
        let source = InMemoryUeventSource()
        hub.start(source: source)
        let matcher = UeventMatcher.virtioBlock(under: "/devices/pci0000:00/0000:00:05.0", what: "disk at 05")
        async let found = hub.wait(for: matcher, extract: { $0.devname })
        // Unrelated devices first: another slot, a partition of the right one, a remove.
        source.send(disk("vdb", at: "/devices/pci0000:00/0000:00:04.0"))
        source.send(Uevent(action: "add", devpath: "/devices/pci0000:00/0000:00:05.0/virtio3/block/vdc/vdc1",
                           fields: ["SUBSYSTEM": "block", "DEVNAME": "vdc1"]))
        source.send(disk("vdc", at: "/devices/pci0000:00/0000:00:05.0"))
        let name = try await found
        XCTAssertEqual(name, "vdc")
        XCTAssertEqual(hub.pendingWaiters, 0)
    }

    func testRemovedDeviceIsForgotten() async throws {
        let hub = hub(timeout: .milliseconds(50))
        hub.ingest(disk("vda"))
        XCTAssertEqual(hub.seenDevpaths.count, 1)
        hub.ingest(disk("vda", action: "remove"))
        XCTAssertEqual(hub.seenDevpaths, [])
        let matcher = UeventMatcher.virtioBlock(under: "/devices/pci0000:00/0000:00:02.0", what: "virtio-blk disk at 02")
        do {
            _ = try await hub.wait(for: matcher, extract: { $0.devname })
            XCTFail("a removed device was found")
        } catch {
            XCTAssertEqual(error.errno, ETIMEDOUT)
        }
    }

    func testTimeoutNamesWhatWasAwaitedAndLeavesNoWaiter() async throws {
        let hub = hub(timeout: .milliseconds(30))
        let matcher = UeventMatcher.scsiDisk(id: 1, lun: 2, what: "SCSI disk 1:2")
        do {
            _ = try await hub.wait(for: matcher, extract: { $0.devname })
            XCTFail("no device was sent, yet the wait succeeded")
        } catch {
            XCTAssertTrue(error.message.contains("timeout after 30ms waiting for SCSI disk 1:2"), error.message)
            XCTAssertEqual(error.kind, .system)
        }
        XCTAssertEqual(hub.pendingWaiters, 0)
    }

    func testFastPathAnswersWithoutAnEvent() async throws {
        let hub = hub(timeout: .seconds(30))
        let found = try await hub.wait(for: UeventMatcher("never") { _ in false }, fastPath: { "from-sysfs" }, extract: { $0.devname })
        XCTAssertEqual(found, "from-sysfs")
        XCTAssertEqual(hub.pendingWaiters, 0)
    }

    func testCancelledWaitEndsAndLeavesNoWaiter() async throws {
        let hub = hub(timeout: .seconds(60))
        let task = Task { try await hub.wait(for: UeventMatcher("never") { _ in false }, extract: { $0.devname }) }
        // The waiter registers asynchronously; wait for it rather than for time.
        while hub.pendingWaiters == 0 { await Task.yield() }
        task.cancel()
        do {
            _ = try await task.value
            XCTFail("a cancelled wait returned a device")
        } catch let error as SandboxError {
            XCTAssertEqual(error.errno, ECANCELED)
        }
        XCTAssertEqual(hub.pendingWaiters, 0)
    }

    func testManyWaitersForOneDeviceAllWake() async throws {
        let hub = hub()
        let matcher = UeventMatcher.blockNamed("vdz", what: "vdz")
        try await withThrowingTaskGroup(of: String.self) { group in
            for _ in 0..<8 { group.addTask { try await hub.wait(for: matcher, extract: { $0.devname }) } }
            while hub.pendingWaiters < 8 { await Task.yield() }
            hub.ingest(Uevent(action: "add", devpath: "/devices/virtio-mmio-cmdline/virtio-mmio.0/virtio0/block/vdz",
                              fields: ["SUBSYSTEM": "block", "DEVNAME": "vdz"]))
            var count = 0
            for try await name in group {
                XCTAssertEqual(name, "vdz")
                count += 1
            }
            XCTAssertEqual(count, 8)
        }
    }

    func testMemoryBlockIsOnlined() throws {
        let hub = hub()
        try sysfs.file("/sys/devices/system/memory/memory40/online", "0")
        hub.ingest(Uevent(action: "add", devpath: "/devices/system/memory/memory40", fields: ["SUBSYSTEM": "memory"]))
        XCTAssertEqual(sysfs.read("/sys/devices/system/memory/memory40/online"), "1")
        // A block whose attribute is missing is logged, not fatal.
        hub.ingest(Uevent(action: "add", devpath: "/devices/system/memory/memory41", fields: ["SUBSYSTEM": "memory"]))
    }
}
