import Glibc
import LinuxKit
import Logging
import XCTest
@testable import Sandbox

/// The watchable-bind mirror against the fake kernel: copies, updates, removals, the limits'
/// fallback to a bind mount, and the refresher's end with the last storage.
final class WatchableBindTests: XCTestCase {
    let source = "/run/kata-containers/shared/containers/c1-0123456789abcdef-config"
    let target = "/run/kata-containers/shared/containers/watchable/c1-0123456789abcdef-config"
    let root = "/run/kata-containers/shared/containers/watchable"

    private func storage() -> StorageRequest {
        StorageRequest(driver: "watchable-bind", source: source, fsType: "bind", options: ["rbind", "ro"], mountPoint: target)
    }

    func testMirrorsUpdatesAndRemovesThenStopsWithTheLastUser() async throws {
        let kernel = FakeStorageKernel()
        kernel.system.addEntry(source, kind: FileKind(kind: .directory, permissions: 0o755))
        kernel.system.addFile(source + "/a.conf", "one", permissions: 0o644)
        kernel.files.setStatus(source + "/a.conf", FileStatus(kind: .regular, permissions: 0o644, uid: 7, gid: 8, size: 3, modifiedNanoseconds: 1))
        kernel.system.addFile(source + "/b.conf", "bee")
        kernel.files.addLink(source + "/current", target: "a.conf")
        let watcher = BindWatcher(interval: .seconds(3600))
        let manager = kernel.manager(StorageDriverRegistry([WatchableBindDriver(watcher: watcher)]))

        try await manager.add([storage()], owner: .container("c1"))
        XCTAssertTrue(kernel.calls.contains("mount tmpfs tmpfs \(root) flags=0 data="), "\(kernel.calls)")
        XCTAssertEqual(try kernel.system.readFile(target + "/a.conf"), "one")
        XCTAssertEqual(try kernel.system.readFile(target + "/b.conf"), "bee")
        XCTAssertEqual(kernel.files.owner(of: target + "/a.conf")?.uid, 7)
        XCTAssertEqual(kernel.system.fileKind(target + "/current")?.kind, .symlink)
        XCTAssertTrue(watcher.isRefreshing)

        // A change (newer mtime) is copied; an unchanged file is not rewritten; a removed one goes.
        kernel.system.addFile(source + "/a.conf", "two", permissions: 0o644)
        kernel.files.setStatus(source + "/a.conf", FileStatus(kind: .regular, permissions: 0o644, size: 3, modifiedNanoseconds: 2))
        try kernel.system.removeFile(source + "/b.conf")
        let before = kernel.calls.count
        watcher.refresh(context: kernel.context())
        XCTAssertEqual(try kernel.system.readFile(target + "/a.conf"), "two")
        XCTAssertFalse(kernel.system.fileExists(target + "/b.conf"))
        XCTAssertFalse(kernel.calls[before...].contains { $0.contains("write \(target)/current") })

        await manager.release(owner: .container("c1"))
        XCTAssertFalse(watcher.isRefreshing)
        XCTAssertFalse(kernel.system.fileExists(target + "/a.conf"))
        XCTAssertEqual(kernel.mounted, [])
    }

    func testMoreThanSixteenEntriesFallsBackToABindMount() async throws {
        let kernel = FakeStorageKernel()
        kernel.system.addEntry(source, kind: FileKind(kind: .directory, permissions: 0o755))
        for index in 0..<BindWatcher.maximumEntries {
            kernel.system.addFile(source + "/f\(index)", "x")
        }
        let watcher = BindWatcher(interval: .seconds(3600))
        let manager = kernel.manager(StorageDriverRegistry([WatchableBindDriver(watcher: watcher)]))
        try await manager.add([storage()], owner: .container("c1"))
        XCTAssertTrue(kernel.calls.contains("mount bind \(source) \(target) flags=4096 data="), "\(kernel.calls)")
        await manager.release(owner: .container("c1"))
        XCTAssertEqual(kernel.mounted, [])
    }

    func testMoreThanOneMebibyteFallsBackToABindMount() async throws {
        let kernel = FakeStorageKernel()
        kernel.system.addEntry(source, kind: FileKind(kind: .directory, permissions: 0o755))
        kernel.system.addFile(source + "/big", "")
        kernel.files.setStatus(source + "/big", FileStatus(kind: .regular, permissions: 0o644, size: BindWatcher.maximumBytes + 1))
        let manager = kernel.manager(StorageDriverRegistry([WatchableBindDriver(watcher: BindWatcher(interval: .seconds(3600)))]))
        try await manager.add([storage()], owner: .container("c1"))
        XCTAssertTrue(kernel.calls.contains("mount bind \(source) \(target) flags=4096 data="), "\(kernel.calls)")
    }

    func testAFileClaimingInt64MaxBytesFallsBackInsteadOfOverflowing() async throws {
        // A sparse file on the host's share, after a small one: the sum would pass Int64.max.
        let kernel = FakeStorageKernel()
        kernel.system.addEntry(source, kind: FileKind(kind: .directory, permissions: 0o755))
        kernel.system.addFile(source + "/a", "x")
        kernel.files.setStatus(source + "/a", FileStatus(kind: .regular, permissions: 0o644, size: 1))
        kernel.system.addFile(source + "/b", "")
        kernel.files.setStatus(source + "/b", FileStatus(kind: .regular, permissions: 0o644, size: Int64.max))
        let manager = kernel.manager(StorageDriverRegistry([WatchableBindDriver(watcher: BindWatcher(interval: .seconds(3600)))]))
        try await manager.add([storage()], owner: .container("c1"))
        XCTAssertTrue(kernel.calls.contains("mount bind \(source) \(target) flags=4096 data="), "\(kernel.calls)")
    }

    func testTargetOutsideTheWatchableTmpfsAndMissingSourceAreRefused() async {
        let kernel = FakeStorageKernel()
        let manager = kernel.manager(StorageDriverRegistry([WatchableBindDriver()]))
        kernel.system.addEntry(source, kind: FileKind(kind: .directory, permissions: 0o755))
        var outside = storage()
        outside.mountPoint = "/etc/evil"
        await assertSandboxError(.invalidArgument, containing: "under") {
            try await manager.add([outside], owner: .container("c1"))
        }
        var missing = storage()
        missing.source = "/run/kata-containers/shared/containers/nope"
        await assertSandboxError(.invalidArgument, containing: "does not exist") {
            try await manager.add([missing], owner: .container("c1"))
        }
        XCTAssertEqual(kernel.mounted, [])
    }
}
