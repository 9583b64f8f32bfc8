import Foundation
import OCISpec
import XCTest
@testable import Cgroups

/// Root tests on this machine's real hierarchy (hybrid here; v1 or v2 elsewhere).
final class RealCgroupTests: XCTestCase {
    var manager: CgroupManager?
    var children: [Foundation.Process] = []

    override func setUpWithError() throws {
        guard getuid() == 0 else { throw XCTSkip("needs root: creates cgroups in the real hierarchy") }
    }

    override func tearDown() {
        for child in children where child.isRunning { kill(child.processIdentifier, SIGKILL) }
        try? manager?.destroy(timeout: .seconds(10))
    }

    func makeManager() throws -> (CgroupManager, CgroupLayout) {
        let layout = try CgroupLayout.detect()
        let path = try CgroupPath.resolve(cgroupsPath: "", containerID: "kata-swift-test-\(UUID().uuidString.prefix(8))")
        let manager = CgroupManagers.make(layout: layout, path: path)
        self.manager = manager
        try manager.create()
        return (manager, layout)
    }

    /// A shell that waits for a line on stdin before running `script`, so it can be moved
    /// into the cgroup first.
    func gatedShell(_ script: String) throws -> (Foundation.Process, FileHandle, Pipe) {
        let process = Foundation.Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", "read line; \(script)"]
        let input = Pipe()
        let output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        try process.run()
        children.append(process)
        return (process, input.fileHandleForWriting, output)
    }

    func waitForExit(_ process: Foundation.Process, _ what: String) {
        let deadline = Date().addingTimeInterval(30)
        while process.isRunning && Date() < deadline { usleep(5_000) }
        XCTAssertFalse(process.isRunning, "\(what) still running")
    }

    func directories(of manager: CgroupManager) -> [String] {
        if let v1 = manager as? V1CgroupManager {
            return Set(v1.mounts.values).map { $0 + v1.path } + (v1.unified.map { [$0.directory] } ?? [])
        }
        return (manager as? V2CgroupManager).map { [$0.directory] } ?? []
    }

    func testLifecycleLimitsStatsFreezeDestroy() throws {
        let (manager, layout) = try makeManager()
        let dirs = directories(of: manager)
        XCTAssertFalse(dirs.isEmpty)
        for dir in dirs { XCTAssertTrue(FileManager.default.fileExists(atPath: dir), dir) }

        var resources = LinuxResources(memory: LinuxMemory(limit: 64 << 20, reservation: 32 << 20),
                                       cpu: LinuxCPU(shares: 512, quota: 20000, period: 100000, cpus: "0"),
                                       pids: LinuxPids(limit: 64))
        let hugeSizes = HugePageSize.available(fileSystem: LocalCgroupFileSystem())
        if let size = hugeSizes.first { resources.hugepageLimits = [LinuxHugepageLimit(pageSize: size, limit: 0)] }
        try manager.apply(resources)
        let fs = LocalCgroupFileSystem()
        func value(_ controller: String, _ v1File: String, _ v2File: String) throws -> String {
            if let v1 = manager as? V1CgroupManager, let dir = v1.directory(for: controller) {
                return try fs.read(dir + "/" + v1File).trimmingCharacters(in: .whitespacesAndNewlines)
            }
            let v2 = try XCTUnwrap((manager as? V2CgroupManager) ?? (manager as? V1CgroupManager)?.unified)
            return try fs.read(v2.directory + "/" + v2File).trimmingCharacters(in: .whitespacesAndNewlines)
        }
        XCTAssertEqual(try value("memory", "memory.limit_in_bytes", "memory.max"), "67108864")
        XCTAssertEqual(try value("memory", "memory.soft_limit_in_bytes", "memory.low"), "33554432")
        XCTAssertEqual(try value("cpu", "cpu.shares", "cpu.weight"), layout.mode == .v2 ? "20" : "512")
        XCTAssertEqual(try value("cpu", "cpu.cfs_quota_us", "cpu.max"), layout.mode == .v2 ? "20000 100000" : "20000")
        XCTAssertEqual(try value("pids", "pids.max", "pids.max"), "64")
        XCTAssertEqual(try value("cpuset", "cpuset.cpus", "cpuset.cpus"), "0")
        if let size = hugeSizes.first {
            XCTAssertEqual(try value("hugetlb", "hugetlb.\(size).limit_in_bytes", "hugetlb.\(size).max"), "0")
        }

        // An update that raises memory+swap above the old memsw limit (v1 must write memsw first).
        try manager.apply(LinuxResources(memory: LinuxMemory(limit: 64 << 20, swap: 96 << 20)))
        try manager.apply(LinuxResources(memory: LinuxMemory(limit: 128 << 20, swap: 256 << 20)))
        XCTAssertEqual(try value("memory", "memory.limit_in_bytes", "memory.max"), "134217728")
        if layout.mode != .v2, fs.exists(((manager as? V1CgroupManager)?.directory(for: "memory") ?? "") + "/memory.memsw.limit_in_bytes") {
            XCTAssertEqual(try value("memory", "memory.memsw.limit_in_bytes", ""), "268435456")
        }

        let (child, input, _) = try gatedShell("exec sleep 300")
        try manager.addProcess(child.processIdentifier)
        XCTAssertEqual(try manager.processes(), [child.processIdentifier])
        input.write(Data("go\n".utf8))
        let stats = try manager.stats()
        XCTAssertEqual(stats.pids.current, 1)
        XCTAssertEqual(stats.pids.limit, 64)
        XCTAssertEqual(stats.memory.usage.limit, 128 << 20)
        XCTAssertFalse(stats.memory.stats.isEmpty)

        try manager.freeze(timeout: .seconds(10))
        XCTAssertTrue(try manager.isFrozen())
        try manager.thaw()
        XCTAssertFalse(try manager.isFrozen())
        // Destroy kills what is left even when frozen, and removes every directory.
        try manager.freeze(timeout: .seconds(10))
        try manager.destroy(timeout: .seconds(10))
        waitForExit(child, "process in the destroyed cgroup")
        for dir in dirs { XCTAssertFalse(FileManager.default.fileExists(atPath: dir), "\(dir) left behind") }
        self.manager = nil
    }

    func testNestedDirectoriesAreRemoved() throws {
        let (manager, _) = try makeManager()
        let dirs = directories(of: manager)
        for dir in dirs { try LocalCgroupFileSystem().createDirectory(dir + "/nested/deeper") }
        try manager.destroy(timeout: .seconds(10))
        for dir in dirs { XCTAssertFalse(FileManager.default.fileExists(atPath: dir), "\(dir) left behind") }
        self.manager = nil
    }

    func testOOMEvent() async throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/python3") else { throw XCTSkip("python3 missing") }
        let (manager, _) = try makeManager()
        try manager.apply(LinuxResources(memory: LinuxMemory(limit: 16 << 20, swap: 16 << 20)))
        let events = try manager.oomEvents()
        let (child, input, _) = try gatedShell("exec python3 -c 'x = \"a\" * (256 << 20)'")
        try manager.addProcess(child.processIdentifier)
        input.write(Data("go\n".utf8))
        let event = try await withThrowingTaskGroup(of: OOMEvent?.self) { group in
            group.addTask {
                for await event in events { return event }
                return nil
            }
            group.addTask {
                try await Task.sleep(for: .seconds(60))
                return nil
            }
            defer { group.cancelAll() }
            return try await group.next() ?? nil
        }
        XCTAssertEqual(event?.path, manager.path, "no OOM event before the deadline")
        waitForExit(child, "OOM-killed process")
        XCTAssertNotEqual(child.terminationStatus, 0)
    }

    func testDeviceFilterProgramOnUnifiedHierarchy() throws {
        let layout = try CgroupLayout.detect()
        guard let unified = layout.unifiedMount else { throw XCTSkip("no cgroup2 mount") }
        let v2 = V2CgroupManager(mount: unified, path: "/kata-swift-bpf-\(UUID().uuidString.prefix(8))", controllers: [],
                                 ownsDevices: true, fileSystem: LocalCgroupFileSystem())
        manager = v2
        try v2.create()
        let denyNull = [LinuxDeviceCgroup(allow: true), LinuxDeviceCgroup(allow: false, type: "c", major: 1, minor: 3, access: "rwm")]
        try v2.apply(LinuxResources(devices: denyNull))
        // Applying again replaces the program instead of stacking another.
        try v2.apply(LinuxResources(devices: denyNull))
        let fd = open(v2.directory, O_RDONLY | O_DIRECTORY)
        defer { close(fd) }
        XCTAssertEqual(try DeviceFilterLoader.attachedProgramIDs(cgroupFD: fd).count, 1)

        let (child, input, output) = try gatedShell(
            "if true < /dev/zero; then echo zero-ok; fi; if true > /dev/null; then echo null-ok; else echo null-denied; fi")
        try v2.addProcess(child.processIdentifier)
        input.write(Data("go\n".utf8))
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        waitForExit(child, "device probe shell")
        XCTAssertEqual(text, "zero-ok\nnull-denied\n")
    }

    /// cgroup.freeze / cgroup.events and cgroup.kill on the unified hierarchy (core files, so
    /// they work here even where every resource controller sits on v1).
    func testV2FreezeThawAndKillOnUnifiedHierarchy() throws {
        let layout = try CgroupLayout.detect()
        guard let unified = layout.unifiedMount else { throw XCTSkip("no cgroup2 mount") }
        let top = "/kata-swift-v2-\(UUID().uuidString.prefix(8))"
        let v2 = V2CgroupManager(mount: unified, path: top + "/nested/c",
                                 controllers: [], ownsDevices: true, fileSystem: LocalCgroupFileSystem())
        manager = v2
        // Parents created for the path stay after destroy (they may be shared, as a pod's
        // cgroup is); the test removes its own.
        defer {
            try? v2.destroy(timeout: .seconds(10))
            rmdir(unified + top + "/nested")
            rmdir(unified + top)
        }
        try v2.create()
        let (child, input, _) = try gatedShell("exec sleep 300")
        try v2.addProcess(child.processIdentifier)
        input.write(Data("go\n".utf8))
        XCTAssertEqual(try v2.processes(), [child.processIdentifier])
        try v2.freeze(timeout: .seconds(10))
        XCTAssertTrue(try v2.isFrozen())
        try v2.thaw()
        XCTAssertFalse(try v2.isFrozen())
        try v2.freeze(timeout: .seconds(10))
        try v2.destroy(timeout: .seconds(10))
        waitForExit(child, "process in the destroyed v2 cgroup")
        XCTAssertFalse(FileManager.default.fileExists(atPath: v2.directory))
        manager = nil
    }

    func testForContainerResolvesPathAndLayout() throws {
        let manager = try CgroupManagers.forContainer(id: "abc", cgroupsPath: "pod1/abc", parent: "/kata")
        XCTAssertEqual(manager.path, "/kata/pod1/abc")
        XCTAssertEqual(try CgroupManagers.forContainer(id: "abc", cgroupsPath: nil).path, "/abc")
        XCTAssertThrowsError(try CgroupManagers.forContainer(id: "abc", cgroupsPath: "/../x"))
    }
}
