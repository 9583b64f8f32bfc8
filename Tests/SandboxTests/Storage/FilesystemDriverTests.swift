import Glibc
import LinuxKit
import Logging
import XCTest
@testable import Sandbox

/// virtio-fs, overlayfs, ephemeral (tmpfs, hugetlbfs), local and fs_group against the fake kernel.
final class FilesystemDriverTests: XCTestCase {
    func testVirtioFSRefusesAnotherFSTypeAndAnEmptyTag() async {
        let kernel = FakeStorageKernel()
        await assertSandboxError(.invalidArgument, containing: "fstype") {
            try await VirtioFSDriver().mount(StorageRequest(driver: "virtio-fs", source: "kataShared", fsType: "9p", mountPoint: "/run/s"),
                                             context: kernel.context())
        }
        await assertSandboxError(.invalidArgument, containing: "source") {
            try await VirtioFSDriver().mount(StorageRequest(driver: "virtio-fs", mountPoint: "/run/s"), context: kernel.context())
        }
        XCTAssertEqual(kernel.mounted, [])
    }

    func testVirtioFSMountFailureCarriesErrno() async {
        let kernel = FakeStorageKernel()
        kernel.system.state.withLock { $0.failures["mount"] = ENODEV }
        do {
            _ = try await VirtioFSDriver().mount(StorageRequest(driver: "virtio-fs", source: "kataShared", mountPoint: "/run/s"),
                                                 context: kernel.context())
            XCTFail("expected an error")
        } catch {
            XCTAssertEqual(error.errno, ENODEV)
            XCTAssertTrue(error.message.contains("/run/s"), error.message)
        }
    }

    func testOverlayRWCreatesUpperAndWorkOfTheContainer() async throws {
        let kernel = FakeStorageKernel()
        let storage = StorageRequest(
            driver: "overlayfs", source: "overlay", fsType: "overlay",
            options: ["lowerdir=/run/kata-containers/virtual-volumes/l1", "io.katacontainers.fs-opt.overlay-rw"],
            mountPoint: "/run/kata-containers/c1/rootfs")
        _ = try await OverlayFSDriver().mount(storage, context: kernel.context(containerID: "c1"))
        XCTAssertEqual(kernel.system.fileKind("/run/kata-containers/c1/upper")?.kind, .directory)
        XCTAssertEqual(kernel.system.fileKind("/run/kata-containers/c1/work")?.kind, .directory)
        XCTAssertTrue(kernel.calls.contains(
            "mount overlay overlay /run/kata-containers/c1/rootfs flags=0 data=lowerdir=/run/kata-containers/virtual-volumes/l1,upperdir=/run/kata-containers/c1/upper,workdir=/run/kata-containers/c1/work"),
            "\(kernel.calls)")
    }

    func testOverlayCreateDirectoryDriverOptionAndChecks() async throws {
        let kernel = FakeStorageKernel()
        var storage = StorageRequest(
            driver: "overlayfs", driverOptions: ["io.katacontainers.volume.overlayfs.create_directory=/run/rw/upper",
                                                 "io.katacontainers.volume.overlayfs.create_directory=/run/rw/work"],
            source: "overlay", fsType: "overlay", options: ["lowerdir=/a:/b", "upperdir=/run/rw/upper", "workdir=/run/rw/work"],
            mountPoint: "/run/kata-containers/c2/rootfs")
        _ = try await OverlayFSDriver().mount(storage, context: kernel.context(containerID: "c2"))
        XCTAssertEqual(kernel.system.fileKind("/run/rw/upper")?.kind, .directory)
        XCTAssertEqual(kernel.system.fileKind("/run/rw/work")?.kind, .directory)

        storage.driverOptions = ["io.katacontainers.volume.overlayfs.create_directory=../escape"]
        await assertSandboxError(.invalidArgument, containing: "create_directory") {
            try await OverlayFSDriver().mount(storage, context: kernel.context(containerID: "c2"))
        }
        await assertSandboxError(.invalidArgument, containing: "lowerdir") {
            try await OverlayFSDriver().mount(StorageRequest(driver: "overlayfs", options: ["upperdir=/x"], mountPoint: "/run/o"),
                                              context: kernel.context(containerID: "c2"))
        }
        await assertSandboxError(.invalidArgument, containing: "container") {
            try await OverlayFSDriver().mount(
                StorageRequest(driver: "overlayfs", options: ["lowerdir=/a", "io.katacontainers.fs-opt.overlay-rw"], mountPoint: "/run/o"),
                context: kernel.context())
        }
    }

    func testEphemeralTmpfsKeepsOptionsAndAppliesFSGID() async throws {
        let kernel = FakeStorageKernel()
        let storage = StorageRequest(driver: "ephemeral", source: "tmpfs", fsType: "tmpfs", options: ["fsgid=2000", "size=1048576,mode=0770"],
                                     mountPoint: "/run/kata-containers/sandbox/ephemeral/cache")
        _ = try await EphemeralDriver().mount(storage, context: kernel.context())
        XCTAssertTrue(kernel.calls.contains("mount tmpfs tmpfs /run/kata-containers/sandbox/ephemeral/cache flags=0 data=size=1048576,mode=0770"),
                      "\(kernel.calls)")
        XCTAssertEqual(kernel.files.owner(of: storage.mountPoint)?.gid, 2000)
        let mode = try XCTUnwrap(kernel.system.fileKind(storage.mountPoint)?.permissions)
        XCTAssertNotEqual(mode & 0o2000, 0, "setgid missing: \(String(mode, radix: 8))")
    }

    func testEphemeralRefusesOtherFilesystemsAndBadGroups() async {
        let kernel = FakeStorageKernel()
        await assertSandboxError(.invalidArgument, containing: "ext4") {
            try await EphemeralDriver().mount(StorageRequest(driver: "ephemeral", fsType: "ext4", mountPoint: "/run/e"), context: kernel.context())
        }
        await assertSandboxError(.invalidArgument, containing: "fsgid") {
            try await EphemeralDriver().mount(StorageRequest(driver: "ephemeral", fsType: "tmpfs", options: ["fsgid=-1"], mountPoint: "/run/e"),
                                              context: kernel.context())
        }
        XCTAssertEqual(kernel.mounted, [])
    }

    func testHugetlbfsReservesPagesThenMounts() async throws {
        let kernel = FakeStorageKernel()
        kernel.system.addFile("/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages", "0\n")
        let storage = StorageRequest(driver: "ephemeral", source: "nodev", fsType: "hugetlbfs", options: ["pagesize=2097152,size=10485760"],
                                     mountPoint: "/run/kata-containers/sandbox/ephemeral/huge")
        _ = try await EphemeralDriver().mount(storage, context: kernel.context())
        XCTAssertEqual(try kernel.system.readFile("/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages"), "5")
        let writeIndex = try XCTUnwrap(kernel.calls.firstIndex(of: "write /sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages"))
        let mountIndex = try XCTUnwrap(kernel.calls.firstIndex(of:
            "mount hugetlbfs nodev /run/kata-containers/sandbox/ephemeral/huge flags=0 data=pagesize=2097152,size=10485760"))
        XCTAssertLessThan(writeIndex, mountIndex)
    }

    func testHugetlbfsSizesAreCheckedNotTrapped() throws {
        let what = "test"
        XCTAssertEqual(try HugePages.parse(["pagesize=2M", "size=1G"], what: what), HugePages(pageSize: 2 << 20, size: 1 << 30))
        XCTAssertEqual(try HugePages.parse(["foo=bar,pagesize=1GiB,size=2GB"], what: what).pages, 2)
        for bad in [["pagesize=2097152,size=18446744073709551615GB"], ["pagesize=18446744073709551615,size=1"],
                    ["pagesize=0,size=1"], ["pagesize=3000,size=9000"], ["pagesize=2097152"], ["size=1"],
                    ["pagesize=abc,size=1"], ["pagesize=2097152,size=1"], ["pagesize=2097152,size=50%"],
                    ["pagesize=99999999999999999999999,size=1"]] {
            XCTAssertThrowsError(try HugePages.parse(bad, what: what), "\(bad)") { error in
                XCTAssertEqual((error as? SandboxError)?.kind, .invalidArgument, "\(bad)")
            }
        }
    }

    func testHugetlbfsWithoutThatPageSizeOrWithFewerPagesGranted() async {
        let kernel = FakeStorageKernel()
        await assertSandboxError(.invalidArgument, containing: "huge pages") {
            try await EphemeralDriver().mount(
                StorageRequest(driver: "ephemeral", fsType: "hugetlbfs", options: ["pagesize=1G,size=1G"], mountPoint: "/run/h"),
                context: kernel.context())
        }
        kernel.system.addFile("/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages", "0")
        kernel.system.state.withLock { $0.failures["write"] = ENOMEM }
        await assertSandboxError(.system, containing: "reserve") {
            try await EphemeralDriver().mount(
                StorageRequest(driver: "ephemeral", fsType: "hugetlbfs", options: ["pagesize=2M,size=4M"], mountPoint: "/run/h"),
                context: kernel.context())
        }
        XCTAssertEqual(kernel.mounted, [])
    }

    func testLocalCreatesDirectoryWithModeAndGroup() async throws {
        let kernel = FakeStorageKernel()
        let storage = StorageRequest(driver: "local", source: "local", fsType: "local", options: ["mode=0777", "fsgid=3000"],
                                     mountPoint: "/run/kata-containers/shared/containers/sb/rootfs/local/scratch")
        let mounted = try await LocalDriver().mount(storage, context: kernel.context())
        XCTAssertFalse(mounted.isMount)
        XCTAssertEqual(kernel.system.fileKind(storage.mountPoint)?.permissions, 0o2777)
        XCTAssertEqual(kernel.files.owner(of: storage.mountPoint)?.gid, 3000)
        await assertSandboxError(.invalidArgument, containing: "mode") {
            try await LocalDriver().mount(StorageRequest(driver: "local", options: ["mode=999"], mountPoint: "/run/l"), context: kernel.context())
        }
        XCTAssertEqual(kernel.mounted, [])
    }

    func testFSGroupAlwaysWalksTheVolume() throws {
        let kernel = FakeStorageKernel()
        kernel.system.addEntry("/vol", kind: FileKind(kind: .directory, permissions: 0o755))
        kernel.system.addEntry("/vol/sub", kind: FileKind(kind: .directory, permissions: 0o700))
        kernel.system.addFile("/vol/sub/data", "x", permissions: 0o600)
        kernel.files.addLink("/vol/link", target: "/etc/passwd")
        try FSGroupOwnership.apply(FSGroup(groupID: 42), root: "/vol", readOnly: false, files: kernel.files, system: kernel.system)
        XCTAssertEqual(kernel.system.fileKind("/vol")?.permissions, 0o2775)
        XCTAssertEqual(kernel.system.fileKind("/vol/sub")?.permissions, 0o2770)
        XCTAssertEqual(kernel.system.fileKind("/vol/sub/data")?.permissions, 0o660)
        XCTAssertEqual(kernel.files.owner(of: "/vol/sub/data")?.gid, 42)
        XCTAssertNil(kernel.files.owner(of: "/vol/link"), "symlinks are skipped")

        // Read-only volumes get g+r, not g+w.
        kernel.system.addFile("/ro/file", "", permissions: 0o600)
        try FSGroupOwnership.apply(FSGroup(groupID: 42), root: "/ro", readOnly: true, files: kernel.files, system: kernel.system)
        XCTAssertEqual(kernel.system.fileKind("/ro/file")?.permissions, 0o640)
    }

    func testFSGroupOnRootMismatchSkipsAMatchingRoot() throws {
        let kernel = FakeStorageKernel()
        kernel.system.addEntry("/vol", kind: FileKind(kind: .directory, permissions: 0o2775))
        kernel.system.addFile("/vol/file", "", permissions: 0o600)
        try kernel.files.changeOwner("/vol", uid: nil, gid: 42)
        let before = kernel.calls.count
        let walked = try FSGroupOwnership.apply(FSGroup(groupID: 42, changePolicy: .onRootMismatch), root: "/vol", readOnly: false,
                                                files: kernel.files, system: kernel.system)
        XCTAssertFalse(walked)
        XCTAssertEqual(kernel.calls.count, before)
        // Another group: the walk runs.
        XCTAssertTrue(try FSGroupOwnership.apply(FSGroup(groupID: 7, changePolicy: .onRootMismatch), root: "/vol", readOnly: false,
                                                 files: kernel.files, system: kernel.system))
        XCTAssertEqual(kernel.files.owner(of: "/vol/file")?.gid, 7)
    }

    func testFSGroupFailureUnmountsAgain() async {
        let kernel = FakeStorageKernel()
        kernel.system.state.withLock { $0.failures["chown"] = EPERM }
        var storage = StorageRequest(driver: "virtio-fs", source: "tag", mountPoint: "/run/vol")
        storage.fsGroup = FSGroup(groupID: 5)
        await assertSandboxError(.system, containing: "fs_group") {
            try await VirtioFSDriver().mount(storage, context: kernel.context())
        }
        XCTAssertEqual(kernel.mounted, [])
    }
}
