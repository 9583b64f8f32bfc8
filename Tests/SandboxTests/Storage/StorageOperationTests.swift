import Glibc
import LinuxKit
import Logging
import XCTest
@testable import Sandbox

/// The storage RPCs' domain: UpdateEphemeralMounts, GetVolumeStats, RemoveStaleVirtiofsShareMounts,
/// GetDiagnosticData's termination log.
final class StorageOperationTests: XCTestCase {
    func testUpdateEphemeralMountsEmptyIsNoCallAtAll() throws {
        let kernel = FakeStorageKernel()
        try EphemeralUpdate.apply([], context: kernel.context())
        XCTAssertEqual(kernel.calls, [])
    }

    func testUpdateEphemeralMountsRemountsWithTheNewSizeWithoutFSGID() throws {
        let kernel = FakeStorageKernel()
        try EphemeralUpdate.apply([
            StorageRequest(driver: "ephemeral", source: "tmpfs", fsType: "tmpfs", options: ["remount", "size=2048M", "fsgid=1000"],
                           mountPoint: "/run/kata-containers/sandbox/ephemeral/cache"),
            StorageRequest(driver: "ephemeral", source: "tmpfs", fsType: "tmpfs", mountPoint: "/run/kata-containers/sandbox/ephemeral/other"),
        ], context: kernel.context())
        XCTAssertEqual(kernel.calls.filter { $0.hasPrefix("mount") },
                       ["mount tmpfs tmpfs /run/kata-containers/sandbox/ephemeral/cache flags=32 data=size=2048M"])
        XCTAssertThrowsError(try EphemeralUpdate.apply([StorageRequest(driver: "local", mountPoint: "/run/l")], context: kernel.context())) {
            XCTAssertEqual(($0 as? SandboxError)?.kind, .invalidArgument)
        }
    }

    func testVolumeStatsAsUpstream() throws {
        let kernel = FakeStorageKernel()
        kernel.system.addEntry("/run/vol", kind: FileKind(kind: .directory, permissions: 0o755))
        kernel.files.setFileSystem("/run/vol", FileSystemStats(blockSize: 4096, blocks: 1000, blocksFree: 600, blocksAvailable: 550,
                                                                inodes: 500, inodesFree: 450))
        let stats = try VolumeStats.read("/run/vol", files: kernel.files)
        XCTAssertEqual(stats.bytes, VolumeStats.Usage(total: 4_096_000, available: 2_457_600, used: 1_638_400))
        XCTAssertEqual(stats.inodes, VolumeStats.Usage(total: 500, available: 450, used: 50))

        kernel.files.setFileSystem("/run/vol", FileSystemStats(blockSize: 1 << 40, blocks: 1 << 30, blocksFree: 0, blocksAvailable: 0,
                                                                inodes: 0, inodesFree: 0))
        XCTAssertThrowsError(try VolumeStats.read("/run/vol", files: kernel.files))
        XCTAssertThrowsError(try VolumeStats.read("/run/missing", files: kernel.files)) {
            XCTAssertEqual(($0 as? SandboxError)?.kind, .invalidArgument)
        }
    }

    func testStaleShareMountsStatsEveryMountUnderTheShare() throws {
        let kernel = FakeStorageKernel()
        kernel.system.addFile("/proc/self/mountinfo", """
            22 1 0:20 / /run rw - tmpfs tmpfs rw
            25 22 0:22 / /run/kata-containers/shared/containers rw - virtiofs kataShared rw
            26 25 0:22 /c1/rootfs /run/kata-containers/shared/containers/c1/rootfs rw - virtiofs kataShared rw
            27 25 0:23 / /run/kata-containers/shared/containers/watchable rw - tmpfs tmpfs rw
            28 22 0:24 / /run/kata-containers/sandbox/shm rw - tmpfs shm rw

            """)
        XCTAssertEqual(try StaleShareMounts.touch(context: kernel.context()), 2)
    }

    func testTerminationLogReadsTheMountSourceUpTo4096Bytes() throws {
        let kernel = FakeStorageKernel()
        let source = "/run/kata-containers/shared/containers/c1-0011223344556677-termination-log"
        kernel.system.addFile(source, String(repeating: "x", count: 5000))
        let annotations = [TerminationLog.annotation: "/dev/termination-log"]
        let mounts = [(destination: "/etc/hosts", source: "/run/hosts"), (destination: "/dev/termination-log", source: source)]
        XCTAssertEqual(try TerminationLog.read(annotations: annotations, mounts: mounts, files: kernel.files, containerID: "c1").utf8.count, 4096)
        XCTAssertEqual(try TerminationLog.read(annotations: annotations, mounts: [(destination: "/dev/termination-log", source: "/run/none")],
                                               files: kernel.files, containerID: "c1"), "")
        XCTAssertThrowsError(try TerminationLog.read(annotations: [:], mounts: mounts, files: kernel.files, containerID: "c1"))
        XCTAssertThrowsError(try TerminationLog.read(annotations: annotations, mounts: [], files: kernel.files, containerID: "c1"))
    }
}
