import LinuxKit
import Logging
import Synchronization
import XCTest
@testable import Sandbox

final class VolumeResizeTests: XCTestCase {
    final class RecordingRunner: CommandRunner {
        let lines = Mutex<[String]>([])
        let status: Int32
        init(status: Int32 = 0) { self.status = status }
        func run(_ tool: String, arguments: [String]) async throws(SandboxError) -> CommandResult {
            lines.withLock { $0.append(([tool] + arguments).joined(separator: " ")) }
            return CommandResult(status: status, output: status == 0 ? "" : "resize2fs: Permission denied")
        }
    }

    private let mountinfo = """
        22 1 0:21 / / rw - tmpfs rootfs rw
        40 22 254:16 / /run/kata-containers/sandbox/storage/v1 rw,relatime - ext4 /dev/vdb rw
        41 22 254:32 / /run/kata-containers/sandbox/storage/v\\0402 rw,relatime - xfs /dev/vdc rw
        42 22 8:16 / /mnt/scsi rw - ext4 /dev/sdb rw
        43 22 0:50 / /mnt/tmp rw - tmpfs tmpfs rw

        """

    private func context(_ system: InMemorySystemCalls) -> (StorageContext, InMemoryStorageSystemCalls) {
        let files = InMemoryStorageSystemCalls(base: system)
        system.addFile("/proc/self/mountinfo", mountinfo)
        return (StorageContext(system: system, files: files, logger: Logger(label: "test")), files)
    }

    func testExt4AndXfsGrowWithTheirTools() async throws {
        let sysfs = try FakeSysfs()
        defer { sysfs.remove() }
        let (context, files) = context(InMemorySystemCalls())
        files.setFileSystem("/run/kata-containers/sandbox/storage/v 2", FileSystemStats(blockSize: 4096, blocks: 10, blocksFree: 1, blocksAvailable: 1, inodes: 1, inodesFree: 1))
        try sysfs.file("/sys/class/block/sdb/device/rescan")
        let runner = RecordingRunner()
        let resize = VolumeResize(runner: runner, paths: sysfs.paths)
        _ = try await resize.grow(path: "/run/kata-containers/sandbox/storage/v1/", size: 0, context: context)
        _ = try await resize.grow(path: "/run/kata-containers/sandbox/storage/v 2", size: 8 << 30, context: context)
        _ = try await resize.grow(path: "/mnt/scsi", size: 1 << 30, context: context)
        XCTAssertEqual(runner.lines.withLock { $0 }, [
            "resize2fs /dev/vdb",
            "xfs_growfs -D 2097152 /run/kata-containers/sandbox/storage/v 2",
            "resize2fs /dev/sdb 1048576K",
        ])
        XCTAssertEqual(sysfs.read("/sys/class/block/sdb/device/rescan"), "1")
    }

    func testRefusesWhatCannotBeGrown() async throws {
        let (context, _) = context(InMemorySystemCalls())
        let resize = VolumeResize(runner: RecordingRunner())
        for (path, expected) in [("/mnt/none", "no filesystem is mounted"), ("/mnt/tmp", "not a block device")] {
            do {
                _ = try await resize.grow(path: path, size: 0, context: context)
                XCTFail("\(path) resized")
            } catch {
                XCTAssertEqual(error.kind, .invalidArgument)
                XCTAssertTrue(error.message.contains(expected), error.message)
            }
        }
        do {
            _ = try await VolumeResize(runner: RecordingRunner(status: 1)).grow(path: "/run/kata-containers/sandbox/storage/v1", size: 0, context: context)
            XCTFail("a failing resize2fs was reported as success")
        } catch {
            XCTAssertTrue(error.message.contains("exited with 1: resize2fs: Permission denied"), error.message)
        }
    }
}
