import Glibc
import LinuxKit
import Logging
import XCTest
@testable import Sandbox

/// Ref counting by mount point, all-or-nothing requests, driver lookup.
final class StorageManagerTests: XCTestCase {
    /// CreateSandbox's storages exactly as the Go runtime sends them (RUNTIME-SEQUENCE §1.3).
    func testGoRuntimeSandboxStorages() async throws {
        let kernel = FakeStorageKernel()
        let manager = kernel.manager()
        let mounted = try await manager.add([
            StorageRequest(driver: "virtio-fs", source: "kataShared", fsType: "virtiofs", options: [],
                           mountPoint: "/run/kata-containers/shared/containers/"),
            StorageRequest(driver: "ephemeral", source: "shm", fsType: "tmpfs",
                           options: ["noexec", "nosuid", "nodev", "mode=1777", "size=67108864"],
                           mountPoint: "/run/kata-containers/sandbox/shm"),
        ], owner: .sandbox)
        XCTAssertEqual(mounted.map(\.isMount), [true, true])
        XCTAssertTrue(kernel.calls.contains("mount virtiofs kataShared /run/kata-containers/shared/containers/ flags=0 data="), "\(kernel.calls)")
        // The shm keeps its size and noexec/nosuid/nodev (upstream drops them).
        XCTAssertTrue(kernel.calls.contains("mount tmpfs shm /run/kata-containers/sandbox/shm flags=14 data=mode=1777,size=67108864"), "\(kernel.calls)")
        await manager.releaseAll()
        XCTAssertEqual(kernel.mounted, [])
        XCTAssertEqual(kernel.calls.filter { $0.hasPrefix("umount") },
                       ["umount /run/kata-containers/sandbox/shm", "umount /run/kata-containers/shared/containers/"])
    }

    func testSecondUserOfAMountPointMountsNothingAndTheLastUserUnmounts() async throws {
        let kernel = FakeStorageKernel()
        let manager = kernel.manager(Self.withVolumeDriver())
        let volume = StorageRequest(driver: "volume", source: "tmpfs", fsType: "tmpfs", mountPoint: "/run/kata-containers/sandbox/ephemeral/v")
        try await manager.add([volume], owner: .container("a"))
        // The same mount point with a trailing slash is the same storage.
        var again = volume
        again.mountPoint += "/"
        try await manager.add([again], owner: .container("b"))
        XCTAssertEqual(kernel.calls.filter { $0.hasPrefix("mount") }.count, 1, "\(kernel.calls)")
        let users = await manager.current.first?.users
        XCTAssertEqual(users, [.container("a"), .container("b")])

        await manager.release(owner: .container("a"))
        XCTAssertEqual(kernel.mounted, ["/run/kata-containers/sandbox/ephemeral/v"])
        await manager.release(owner: .container("b"))
        XCTAssertEqual(kernel.mounted, [])
        let left = await manager.current.count
        XCTAssertEqual(left, 0)
    }

    /// A memory emptyDir outlives its last container (the runtime removes a container as soon as
    /// it exits; the restarted one, or the app container after an init container, must find what
    /// was written): the next claim reuses the mount, DestroySandbox unmounts it.
    func testEphemeralStorageIsKeptForThePodAfterItsLastUser() async throws {
        let kernel = FakeStorageKernel()
        let manager = kernel.manager()
        let volume = StorageRequest(driver: "ephemeral", source: "tmpfs", fsType: "tmpfs", mountPoint: "/run/kata-containers/sandbox/ephemeral/cache")
        try await manager.add([volume], owner: .container("init"))
        await manager.release(owner: .container("init"))
        XCTAssertEqual(kernel.mounted, ["/run/kata-containers/sandbox/ephemeral/cache"])
        var current = await manager.current
        XCTAssertEqual(current.map(\.users), [[]])

        // A failed request's claim of it gives it back without unmounting either.
        let failed = try await manager.claim([volume], owner: .container("app"))
        await manager.release(failed)
        try await manager.add([volume], owner: .container("app"))
        XCTAssertEqual(kernel.calls.filter { $0.hasPrefix("mount") }.count, 1, "\(kernel.calls)")
        current = await manager.current
        XCTAssertEqual(current.map(\.users), [[.container("app")]])

        await manager.releaseAll()
        XCTAssertEqual(kernel.mounted, [])
    }

    /// A registry with a plain ref-counted driver ("volume") that mounts a tmpfs.
    static func withVolumeDriver() -> StorageDriverRegistry {
        var registry = StorageDriverRegistry.standard()
        registry.register(ScriptedDriver(names: ["volume"], fails: false))
        return registry
    }

    func testAFailingStorageUndoesTheRequestsEarlierOnesOnly() async throws {
        let kernel = FakeStorageKernel()
        var registry = Self.withVolumeDriver()
        registry.register(ScriptedDriver(names: ["fails"], fails: true))
        let manager = kernel.manager(registry)
        let shared = StorageRequest(driver: "volume", mountPoint: "/run/shared-volume")
        try await manager.add([shared], owner: .container("a"))

        await assertSandboxError(.system, containing: "scripted failure") {
            try await manager.add([
                shared,
                StorageRequest(driver: "volume", mountPoint: "/run/own-volume"),
                StorageRequest(driver: "fails", mountPoint: "/run/broken"),
            ], owner: .container("b"))
        }
        // b's own volume is gone; a's shared volume stays, held by a alone.
        XCTAssertEqual(kernel.mounted, ["/run/shared-volume"])
        let current = await manager.current
        XCTAssertEqual(current.map(\.storage.mountPoint), ["/run/shared-volume"])
        XCTAssertEqual(current.first?.users, [.container("a")])
    }

    func testClaimGivenBackLeavesTheOwnersEarlierUsesAlone() async throws {
        let kernel = FakeStorageKernel()
        let manager = kernel.manager()
        let volume = StorageRequest(driver: "ephemeral", mountPoint: "/run/v")
        try await manager.add([volume], owner: .container("a"))
        // A duplicate CreateContainer of "a" claims the same storage, then fails to create.
        let claim = try await manager.claim([volume], owner: .container("a"))
        await manager.release(claim)
        XCTAssertEqual(kernel.mounted, ["/run/v"])
        let users = await manager.current.first?.users
        XCTAssertEqual(users, [.container("a")])
    }

    func testUnsupportedDriversAreNamedAndNothingIsMounted() async {
        let kernel = FakeStorageKernel()
        let manager = kernel.manager()
        for driver in ["9p", "image_guest_pull", "erofs.multi-layer", "blk-ccw"] {
            await assertSandboxError(.unimplemented, containing: "\"\(driver)\"") {
                try await manager.add([
                    StorageRequest(driver: "ephemeral", mountPoint: "/run/first"),
                    StorageRequest(driver: driver, source: "x", mountPoint: "/run/x"),
                ], owner: .sandbox)
            }
        }
        await assertSandboxError(.invalidArgument, containing: "\"no-such-driver\"") {
            try await manager.add([StorageRequest(driver: "no-such-driver", mountPoint: "/run/x")], owner: .sandbox)
        }
        XCTAssertEqual(kernel.calls.filter { $0.hasPrefix("mount") }, [])
    }

    func testReleaseAllGoesNewestFirstAcrossOwners() async throws {
        let kernel = FakeStorageKernel()
        let manager = kernel.manager()
        try await manager.add([StorageRequest(driver: "virtio-fs", source: "kataShared", mountPoint: "/run/share")], owner: .sandbox)
        try await manager.add([StorageRequest(driver: "ephemeral", mountPoint: "/run/c1")], owner: .container("c1"))
        await manager.releaseAll()
        XCTAssertEqual(kernel.calls.filter { $0.hasPrefix("umount") }, ["umount /run/c1", "umount /run/share"])
    }

    /// A driver's wait (hot-plug) must not let a second request for the same mount point mount twice.
    func testConcurrentRequestsForOneMountPointMountOnce() async throws {
        let kernel = FakeStorageKernel()
        let manager = kernel.manager()
        let volume = StorageRequest(driver: "ephemeral", mountPoint: "/run/v")
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<8 {
                group.addTask { try await manager.add([volume], owner: .container("c\(index)")) }
            }
            try await group.waitForAll()
        }
        XCTAssertEqual(kernel.calls.filter { $0.hasPrefix("mount") }.count, 1)
        let users = await manager.current.first?.users.count
        XCTAssertEqual(users, 8)
    }

    func testSharePreMountedByTheImageIsUsedAsIs() async throws {
        let kernel = FakeStorageKernel()
        kernel.system.addFile("/proc/self/mountinfo",
                              "25 1 0:22 / /run/kata-containers/shared/containers rw,relatime - virtiofs kataShared rw\n")
        let manager = kernel.manager()
        let mounted = try await manager.add([
            StorageRequest(driver: "virtio-fs", source: "kataShared", fsType: "virtiofs", mountPoint: "/run/kata-containers/shared/containers/"),
        ], owner: .sandbox)
        XCTAssertEqual(mounted.first?.isMount, false)
        await manager.releaseAll()
        XCTAssertEqual(kernel.calls.filter { $0.hasPrefix("mount") || $0.hasPrefix("umount") }, [])
    }

    func testMountTableUnescapesOctal() {
        XCTAssertEqual(MountTable.unescape("/run/a\\040b\\134c"), "/run/a b\\c")
        XCTAssertEqual(MountTable.unescape("/run/trailing\\04"), "/run/trailing\\04")
        XCTAssertEqual(MountTable.normalized("/run/x///"), "/run/x")
        XCTAssertEqual(MountTable.normalized("/"), "/")
    }
}
