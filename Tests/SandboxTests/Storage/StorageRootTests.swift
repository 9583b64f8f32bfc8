import Foundation
import Glibc
import LinuxKit
import Logging
import XCTest
@testable import Sandbox

/// The storage drivers against the real kernel, in a temporary directory of the host's
/// mount namespace (every mount below it is undone in tearDown, even after a failure).
final class StorageRootTests: XCTestCase {
    private var dir = ""

    override func setUpWithError() throws {
        guard getuid() == 0 else { throw XCTSkip("needs root to mount tmpfs, overlay and hugetlbfs") }
        dir = "/tmp/kata-storage-root-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        guard !dir.isEmpty else { return }
        for point in mountPoints().filter({ $0.hasPrefix(dir + "/") }).reversed() {
            _ = umount2(point, Int32(MNT_DETACH))
        }
        try? FileManager.default.removeItem(atPath: dir)
    }

    private func mountPoints() -> [String] {
        let text = (try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8)) ?? ""
        return text.split(separator: "\n").compactMap { line in
            let fields = line.split(separator: " ")
            return fields.count > 4 ? MountTable.unescape(fields[4]) : nil
        }
    }

    /// The mountinfo line of `point`, nil when not mounted.
    private func mountLine(_ point: String) -> String? {
        let text = (try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8)) ?? ""
        return text.split(separator: "\n").map(String.init).last { $0.split(separator: " ").dropFirst(4).first.map(String.init) == point }
    }

    private var paths: StoragePaths {
        StoragePaths(kataRun: dir + "/kata", sharedContainers: dir + "/shared", watchable: dir + "/shared/watchable",
                     hugepages: "/sys/kernel/mm/hugepages", mountInfo: "/proc/self/mountinfo")
    }

    private func context(_ containerID: String? = nil) -> StorageContext {
        StorageContext(system: LinuxSystemCalls(), files: LinuxStorageSystemCalls(), paths: paths, containerID: containerID,
                       logger: Logger(label: "storage-root-test"))
    }

    private func manager(_ registry: StorageDriverRegistry = .standard()) -> StorageManager {
        let paths = paths
        return StorageManager(registry: registry) { owner in
            var context = StorageContext(system: LinuxSystemCalls(), files: LinuxStorageSystemCalls(), paths: paths,
                                         logger: Logger(label: "storage-root-test"))
            if case .container(let id) = owner { context.containerID = id }
            return context
        }
    }

    private func status(_ path: String) throws -> stat {
        var info = stat()
        guard stat(path, &info) == 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        return info
    }

    func testTmpfsKeepsItsOptionsAndFSGIDAndIsReleased() async throws {
        let manager = manager()
        let point = dir + "/sandbox/shm"
        try await manager.add([StorageRequest(driver: "ephemeral", source: "shm", fsType: "tmpfs",
                                              options: ["noexec", "nosuid", "nodev", "mode=1777", "size=1m", "fsgid=1234"],
                                              mountPoint: point)], owner: .sandbox)
        let line = try XCTUnwrap(mountLine(point), "tmpfs not mounted")
        for word in ["nosuid", "nodev", "noexec", "size=1024k"] {
            XCTAssertTrue(line.contains(word), "\(word) missing from \(line)")
        }
        let info = try status(point)
        XCTAssertEqual(info.st_gid, 1234)
        XCTAssertEqual(info.st_mode & 0o7777, 0o3777)
        await manager.releaseAll()
        XCTAssertNil(mountLine(point), "still mounted after release")
    }

    func testOverlayRWWritesGoToTheContainersUpperDirectory() async throws {
        let lower = dir + "/lower"
        try FileManager.default.createDirectory(atPath: lower, withIntermediateDirectories: true)
        try Data("from the image\n".utf8).write(to: URL(fileURLWithPath: lower + "/base"))
        let manager = manager()
        let rootfs = dir + "/kata/c1/rootfs"
        try await manager.add([StorageRequest(driver: "overlayfs", source: "overlay", fsType: "overlay",
                                              options: ["lowerdir=\(lower)", "io.katacontainers.fs-opt.overlay-rw"],
                                              mountPoint: rootfs)], owner: .container("c1"))
        XCTAssertEqual(try String(contentsOfFile: rootfs + "/base", encoding: .utf8), "from the image\n")
        try Data("written by the container\n".utf8).write(to: URL(fileURLWithPath: rootfs + "/new"))
        XCTAssertEqual(try String(contentsOfFile: dir + "/kata/c1/upper/new", encoding: .utf8), "written by the container\n")
        XCTAssertFalse(FileManager.default.fileExists(atPath: lower + "/new"))
        await manager.release(owner: .container("c1"))
        XCTAssertNil(mountLine(rootfs))
    }

    func testLocalDirectoryGetsModeAndGroup() async throws {
        let point = dir + "/shared/sb/rootfs/local/scratch"
        try await manager().add([StorageRequest(driver: "local", source: "local", fsType: "local", options: ["mode=0770", "fsgid=4321"],
                                                mountPoint: point)], owner: .sandbox)
        let info = try status(point)
        XCTAssertEqual(info.st_mode & S_IFMT, S_IFDIR)
        XCTAssertEqual(info.st_mode & 0o7777, 0o2770)
        XCTAssertEqual(info.st_gid, 4321)
        XCTAssertNil(mountLine(point), "local must not mount")
    }

    func testHugetlbfsReservesAndMounts() async throws {
        let pool = "/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages"
        guard let before = try? String(contentsOfFile: pool, encoding: .utf8) else { throw XCTSkip("no 2 MiB huge pages in this kernel") }
        addTeardownBlock { try? before.write(toFile: pool, atomically: false, encoding: .utf8) }
        let point = dir + "/sandbox/ephemeral/huge"
        let manager = manager()
        let request = StorageRequest(driver: "ephemeral", source: "nodev", fsType: "hugetlbfs",
                                     options: ["pagesize=2097152,size=4194304"], mountPoint: point)
        do {
            try await manager.add([request], owner: .sandbox)
        } catch {
            if error.message.contains("granted") { throw XCTSkip("the kernel cannot spare two huge pages here: \(error)") }
            throw error
        }
        XCTAssertEqual(try String(contentsOfFile: pool, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines), "2")
        let line = try XCTUnwrap(mountLine(point))
        XCTAssertTrue(line.contains("hugetlbfs"), line)
        XCTAssertTrue(line.contains("pagesize=2M"), line)
        await manager.releaseAll()
        XCTAssertNil(mountLine(point))
    }

    /// The point of watchable-bind: a process watching the mirror with inotify sees the host's update.
    func testWatchableBindMirrorDeliversInotifyEventsOnUpdate() async throws {
        let source = dir + "/shared/c1-0123456789abcdef-config"
        try FileManager.default.createDirectory(atPath: source, withIntermediateDirectories: true)
        try Data("v1".utf8).write(to: URL(fileURLWithPath: source + "/app.conf"))
        let watcher = BindWatcher(interval: .milliseconds(100))
        let manager = manager(StorageDriverRegistry([WatchableBindDriver(watcher: watcher)]))
        let target = dir + "/shared/watchable/c1-0123456789abcdef-config"
        try await manager.add([StorageRequest(driver: "watchable-bind", source: source, fsType: "bind", options: ["rbind", "ro"],
                                              mountPoint: target)], owner: .container("c1"))
        XCTAssertNotNil(mountLine(dir + "/shared/watchable"), "the watchable tmpfs is not mounted")
        XCTAssertEqual(try String(contentsOfFile: target + "/app.conf", encoding: .utf8), "v1")

        let fd = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
        XCTAssertGreaterThanOrEqual(fd, 0)
        defer { close(fd) }
        XCTAssertGreaterThanOrEqual(inotify_add_watch(fd, target, UInt32(IN_MODIFY | IN_CLOSE_WRITE | IN_CREATE)), 0)

        try Data("v2, longer".utf8).write(to: URL(fileURLWithPath: source + "/app.conf"))
        // A later mtime than the mirrored one, whatever the timestamp granularity.
        var times = [timespec(tv_sec: time(nil) + 5, tv_nsec: 0), timespec(tv_sec: time(nil) + 5, tv_nsec: 0)]
        XCTAssertEqual(utimensat(AT_FDCWD, source + "/app.conf", &times, 0), 0)

        // Wait for the refresher's event on the mirror, with a deadline.
        var pollDescriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        XCTAssertEqual(poll(&pollDescriptor, 1, 10_000), 1, "no inotify event on the mirror within 10 s")
        var buffer = [UInt8](repeating: 0, count: 4096)
        XCTAssertGreaterThan(read(fd, &buffer, buffer.count), 0)
        // The event may precede the last write of the copy; the content follows within the deadline.
        let deadline = ContinuousClock.now + .seconds(10)
        while (try? String(contentsOfFile: target + "/app.conf", encoding: .utf8)) != "v2, longer", ContinuousClock.now < deadline {
            _ = poll(&pollDescriptor, 1, 100)
        }
        XCTAssertEqual(try String(contentsOfFile: target + "/app.conf", encoding: .utf8), "v2, longer")

        await manager.release(owner: .container("c1"))
        XCTAssertFalse(watcher.isRefreshing)
        XCTAssertNil(mountLine(dir + "/shared/watchable"), "the watchable tmpfs outlived its last storage")
    }

    func testVolumeStatsMatchStatF() async throws {
        let point = dir + "/sandbox/storage/vol"
        try await manager().add([StorageRequest(driver: "ephemeral", source: "tmpfs", fsType: "tmpfs", options: ["size=4m", "nr_inodes=1000"],
                                                mountPoint: point)], owner: .sandbox)
        try Data(count: 1 << 20).write(to: URL(fileURLWithPath: point + "/payload"))
        let stats = try VolumeStats.read(point, files: LinuxStorageSystemCalls())

        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/stat")
        process.arguments = ["-f", "-c", "%S %b %f %c %d", point]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        process.waitUntilExit()
        let fields = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            .split(separator: " ").compactMap { UInt64($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        XCTAssertEqual(fields.count, 5)
        guard fields.count == 5 else { return }
        let (size, blocks, free, inodes, inodesFree) = (fields[0], fields[1], fields[2], fields[3], fields[4])
        XCTAssertEqual(stats.bytes.total, blocks * size)
        XCTAssertEqual(stats.bytes.available, free * size)
        XCTAssertEqual(stats.bytes.used, (blocks - free) * size)
        XCTAssertGreaterThanOrEqual(stats.bytes.used, 1 << 20)
        XCTAssertEqual(stats.inodes.total, inodes)
        XCTAssertEqual(stats.inodes.available, inodesFree)
        XCTAssertEqual(stats.bytes.total, 4 << 20)
    }
}
