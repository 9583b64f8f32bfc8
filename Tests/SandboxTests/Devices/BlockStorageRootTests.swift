import Foundation
import Glibc
import LinuxKit
import Logging
import XCTest
@testable import Sandbox

/// Block storages on real loop devices (root): the blk driver with a /dev source, and the
/// hot-plug path end to end (the real uevent socket announcing a new loop device to a
/// waiting driver). Every mount is undone and every loop device detached and removed.
final class BlockStorageRootTests: XCTestCase {
    private var cleanups: [() -> Void] = []

    override func tearDown() {
        for cleanup in cleanups.reversed() { cleanup() }
        cleanups = []
    }

    private func context(timeout: Duration = .seconds(20)) -> StorageContext {
        StorageContext(system: LinuxSystemCalls(), files: LinuxStorageSystemCalls(), hotplugTimeout: timeout, logger: Logger(label: "test"))
    }

    private func temporaryDirectory() throws -> String {
        let path = NSTemporaryDirectory() + "kata-blk-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        cleanups.append { try? FileManager.default.removeItem(atPath: path) }
        return path
    }

    private func isMounted(_ path: String) -> Bool {
        let table = (try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8)) ?? ""
        return table.split(separator: "\n").contains { $0.split(separator: " ").dropFirst(4).first.map(String.init) == path }
    }

    private func loop(megabytes: Int = 16) throws -> TestLoopDevice {
        let loop = try TestLoopDevice(megabytes: megabytes)
        cleanups.append { loop.destroy() }
        return loop
    }

    func testLoopDeviceAsBlkStorageMountedUsedReleased() async throws {
        let loop = try loop()
        try loop.format()
        try loop.attach()
        let mountPoint = try temporaryDirectory() + "/volume"
        let driver = BlockDriver(locator: DeviceLocator(hub: UeventHub(logger: Logger(label: "test"))))
        let storage = StorageRequest(driver: "blk", source: loop.node, fsType: "ext4", options: ["nodev"], mountPoint: mountPoint)
        let mounted = try await driver.mount(storage, context: context())
        cleanups.append { _ = umount2(mountPoint, Int32(MNT_DETACH)) }
        XCTAssertTrue(isMounted(mountPoint))
        XCTAssertEqual(mounted.source, loop.node)
        try "written through the volume".write(toFile: mountPoint + "/hello", atomically: false, encoding: .utf8)
        XCTAssertEqual(try String(contentsOfFile: mountPoint + "/hello", encoding: .utf8), "written through the volume")
        try await driver.release(mounted, context: context())
        XCTAssertFalse(isMounted(mountPoint))
        XCTAssertFalse(FileManager.default.fileExists(atPath: mountPoint + "/hello"))
    }

    func testDriverWaitsForTheKernelToAnnounceTheDevice() async throws {
        let loop = try loop()
        try loop.format()
        let hub = UeventHub(timeout: .seconds(20), logger: Logger(label: "test"))
        let socket = try NetlinkUeventSocket()
        cleanups.append { socket.close() }
        hub.start(source: socket)
        let mountPoint = try temporaryDirectory() + "/hotplugged"
        cleanups.append { _ = umount2(mountPoint, Int32(MNT_DETACH)) }
        // The device does not exist when the wait starts: only its uevent can end it. (The
        // kernel announces a loop device before losetup configures it, so the mount follows
        // the attach rather than racing it.)
        let locator = DeviceLocator(hub: hub)
        async let found = locator.mmioBlock(node: loop.node)
        while hub.pendingWaiters == 0 { await Task.yield() }
        try loop.attach()
        let node = try await found
        XCTAssertEqual(node, loop.node)
        XCTAssertTrue(hub.seenDevpaths.contains(loop.devpath))
        let driver = MMIOBlockDriver(locator: locator)
        let result = try await driver.mount(StorageRequest(driver: "mmioblk", source: node, fsType: "ext4", mountPoint: mountPoint),
                                            context: context())
        XCTAssertTrue(isMounted(mountPoint))
        try await driver.release(result, context: context())
        XCTAssertFalse(isMounted(mountPoint))
    }

    func testDeviceThatNeverAppearsLeavesNothingMounted() async throws {
        let hub = UeventHub(timeout: .milliseconds(300), logger: Logger(label: "test"))
        let socket = try NetlinkUeventSocket()
        cleanups.append { socket.close() }
        hub.start(source: socket)
        let mountPoint = try temporaryDirectory() + "/never"
        let storage = StorageRequest(driver: "mmioblk", source: "/dev/vdzz", fsType: "ext4", mountPoint: mountPoint)
        do {
            _ = try await MMIOBlockDriver(locator: DeviceLocator(hub: hub)).mount(storage, context: context(timeout: .milliseconds(300)))
            XCTFail("a device that never appeared was mounted")
        } catch {
            XCTAssertTrue(error.message.contains("virtio-mmio disk /dev/vdzz"), error.message)
        }
        XCTAssertFalse(isMounted(mountPoint))
        XCTAssertFalse(FileManager.default.fileExists(atPath: mountPoint))
        XCTAssertEqual(hub.pendingWaiters, 0)
    }
}

/// A loop device at a fresh index (so the kernel adds it and announces it); root only.
final class TestLoopDevice: @unchecked Sendable {
    let image: String
    let index: Int
    var node: String { "/dev/loop\(index)" }
    var devpath: String { "/devices/virtual/block/loop\(index)" }
    private var attached = false

    init(megabytes: Int) throws {
        guard getuid() == 0 else { throw XCTSkip("loop devices need root") }
        guard FileManager.default.isExecutableFile(atPath: "/usr/sbin/losetup") else { throw XCTSkip("losetup is not installed") }
        image = NSTemporaryDirectory() + "kata-loop-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).img"
        guard FileManager.default.createFile(atPath: image, contents: nil), truncate(image, off_t(megabytes) << 20) == 0 else {
            throw XCTSkip("cannot create \(image)")
        }
        var candidate = 0
        repeat { candidate = Int.random(in: 300...900) } while FileManager.default.fileExists(atPath: "/sys/block/loop\(candidate)")
        index = candidate
    }

    func format() throws { try Self.run("/usr/sbin/mkfs.ext4", ["-q", "-F", image]) }

    func attach() throws {
        try Self.run("/usr/sbin/losetup", [node, image])
        attached = true
    }

    func destroy() {
        if attached { try? Self.run("/usr/sbin/losetup", ["-d", node]) }
        attached = false
        let control = open("/dev/loop-control", O_RDWR | O_CLOEXEC)
        if control >= 0 {
            // LOOP_CTL_REMOVE; the detach completes asynchronously, so EBUSY may last a moment.
            for _ in 0..<50 where ioctl(control, 0x4C81, CInt(index)) != 0 && errno == EBUSY { usleep(20_000) }
            close(control)
        }
        unlink(image)
    }

    static func run(_ path: String, _ arguments: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        let err = Pipe()
        process.standardError = err
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let errors = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw NSError(domain: "\(path) \(arguments.joined(separator: " ")): " + String(decoding: errors, as: UTF8.self),
                          code: Int(process.terminationStatus))
        }
    }
}
