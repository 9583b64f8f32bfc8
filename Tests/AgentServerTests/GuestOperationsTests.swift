import Foundation
import Synchronization
import XCTest

@testable import Sandbox

/// Guest-level operations against fake sysfs/procfs trees in temporary directories.
final class GuestOperationsTests: XCTestCase {
    private var roots = GuestRoots()

    override func setUpWithError() throws {
        let base = try makeTemporaryDirectory(for: self, "guest")
        roots = GuestRoots(sysfs: base + "/sys", procfs: base + "/proc", run: base + "/run", randomDevice: base + "/random")
    }

    // MARK: memory info and probe

    func testMemoryInfoReadsHexBlockSizeAndProbe() throws {
        try writeFile(roots.sysfs + "/devices/system/memory/block_size_bytes", "8000000\n")
        try writeFile(roots.sysfs + "/devices/system/memory/probe", "")
        let info = try GuestMemoryInfo.read(roots: roots, blockSize: true, probe: true)
        XCTAssertEqual(info, GuestMemoryInfo(blockSizeBytes: 0x800_0000, supportsProbe: true))
        XCTAssertEqual(try GuestMemoryInfo.read(roots: roots, blockSize: false, probe: false), GuestMemoryInfo(blockSizeBytes: 0, supportsProbe: false))
    }

    func testMemoryInfoMissingFilesMeanZeroAndFalse() throws {
        XCTAssertEqual(try GuestMemoryInfo.read(roots: roots, blockSize: true, probe: true), GuestMemoryInfo(blockSizeBytes: 0, supportsProbe: false))
    }

    func testMemoryInfoRejectsGarbage() throws {
        try writeFile(roots.sysfs + "/devices/system/memory/block_size_bytes", "zzz\n")
        XCTAssertThrowsError(try GuestMemoryInfo.read(roots: roots, blockSize: true, probe: false)) { error in
            XCTAssertTrue("\(error)".contains("block_size_bytes"), "\(error)")
        }
    }

    func testRealMachineMemoryInfo() throws {
        let info = try GuestMemoryInfo.read(roots: .system, blockSize: true, probe: true)
        if FileManager.default.fileExists(atPath: "/sys/devices/system/memory/block_size_bytes") {
            XCTAssertGreaterThan(info.blockSizeBytes, 0)
            XCTAssertEqual(info.blockSizeBytes & (info.blockSizeBytes - 1), 0, "block size is a power of two")
        }
        XCTAssertEqual(info.supportsProbe, FileManager.default.fileExists(atPath: "/sys/devices/system/memory/probe"))
    }

    func testProbeWritesUpperHexAddresses() throws {
        let probe = roots.sysfs + "/devices/system/memory/probe"
        try writeFile(probe, "")
        try GuestMemoryProbe.probe(addresses: [0x1_2345_ABCD], roots: roots)
        XCTAssertEqual(try readFile(probe), "0x12345ABCD")
        XCTAssertEqual(GuestMemoryProbe.format(0), "0x0")
    }

    func testProbeWithoutInterfaceIsUnsupported() {
        XCTAssertThrowsError(try GuestMemoryProbe.probe(addresses: [1], roots: roots)) { error in
            XCTAssertEqual((error as? GuestOperationError)?.kind, .unsupported)
        }
    }

    func testSeccompSupportFromStatus() throws {
        try writeFile(roots.procfs + "/self/status", "Name:\tx\nSeccomp:\t0\n")
        XCTAssertTrue(GuestSeccompSupport.kernelSupportsSeccomp(roots: roots))
        try writeFile(roots.procfs + "/self/status", "Name:\tx\n")
        XCTAssertFalse(GuestSeccompSupport.kernelSupportsSeccomp(roots: roots))
    }

    // MARK: online CPUs and memory

    private func makeCPUs(online: [Int], offline: [Int]) throws {
        let cpu = roots.sysfs + "/devices/system/cpu"
        for index in online { try writeFile(cpu + "/cpu\(index)/online", "1\n") }
        for index in offline { try writeFile(cpu + "/cpu\(index)/online", "0\n") }
        try writeFile(cpu + "/cpufreq/online", "0\n")  // not a cpuN entry: must be left alone
    }

    /// The fake kernel: mirror the per-CPU online files into the `online` list, as the kernel does.
    private func syncOnlineList() throws {
        let cpu = roots.sysfs + "/devices/system/cpu"
        let online = try FileManager.default.contentsOfDirectory(atPath: cpu)
            .filter { $0.hasPrefix("cpu") && Int($0.dropFirst(3)) != nil }
            .filter { (try? readFile(cpu + "/\($0)/online").hasPrefix("1")) == true }
            .compactMap { Int($0.dropFirst(3)) }.sorted()
        try writeFile(cpu + "/online", online.map(String.init).joined(separator: ",") + "\n")
    }

    func testOnlineAllWritesOnlyOfflineMatchingEntries() throws {
        try makeCPUs(online: [0], offline: [1, 2, 3])
        let resources = GuestOnlineResources(roots: roots)
        let count = try resources.onlineAll(
            directory: roots.sysfs + "/devices/system/cpu", prefix: "cpu", limit: 2, operation: "test")
        XCTAssertEqual(count, 2)
        try syncOnlineList()
        XCTAssertEqual(try resources.onlineCPUCount(), 3)
        XCTAssertEqual(try readFile(roots.sysfs + "/devices/system/cpu/cpufreq/online"), "0\n")
    }

    func testOnlineCPUsAlreadyEnoughDoesNothing() async throws {
        try makeCPUs(online: [0, 1], offline: [2])
        try syncOnlineList()
        let outcome = try await GuestOnlineResources(roots: roots).online(nbCPUs: 2, cpuOnly: true)
        XCTAssertEqual(outcome.onlineCPUs, 2)
        XCTAssertNil(outcome.memoryBlocksOnlined)
        XCTAssertEqual(try readFile(roots.sysfs + "/devices/system/cpu/cpu2/online"), "0\n")
    }

    func testOnlineCPUsTimesOutNamingCounts() async throws {
        // The fake kernel never updates the online list, so the agent must give up with a clear error.
        try makeCPUs(online: [0], offline: [1])
        try writeFile(roots.sysfs + "/devices/system/cpu/online", "0\n")
        let resources = GuestOnlineResources(roots: roots, cpuDeadline: .milliseconds(50), retryInterval: .milliseconds(5))
        do {
            _ = try await resources.online(nbCPUs: 2, cpuOnly: true)
            XCTFail("expected a timeout")
        } catch {
            XCTAssertTrue(error.description.contains("only 1 of 2"), error.description)
        }
    }

    func testOnlineMemoryBlocks() async throws {
        let memory = roots.sysfs + "/devices/system/memory"
        try writeFile(memory + "/memory0/online", "1\n")
        try writeFile(memory + "/memory1/online", "0\n")
        try writeFile(memory + "/memory2/online", "0\n")
        try writeFile(memory + "/block_size_bytes", "8000000\n")
        let outcome = try await GuestOnlineResources(roots: roots).online(nbCPUs: 0, cpuOnly: false)
        XCTAssertEqual(outcome.memoryBlocksOnlined, 2)
        XCTAssertNil(outcome.onlineCPUs)
        XCTAssertEqual(try readFile(memory + "/memory2/online"), "1")
    }

    func testCPUListParsing() {
        XCTAssertEqual(GuestOnlineResources.countCPUList("0"), 1)
        XCTAssertEqual(GuestOnlineResources.countCPUList("0-3"), 4)
        XCTAssertEqual(GuestOnlineResources.countCPUList("0-3,6,8-9"), 7)
        XCTAssertEqual(GuestOnlineResources.countCPUList(""), 0)
        XCTAssertNil(GuestOnlineResources.countCPUList("3-1"))
        XCTAssertNil(GuestOnlineResources.countCPUList("a"))
        XCTAssertNil(GuestOnlineResources.countCPUList("1,,2"))
    }

    // MARK: date/time

    private final class RecordingClock: SystemClockSetting {
        let calls = Mutex<[(Int64, Int64)]>([])
        func setTimeOfDay(seconds: Int64, microseconds: Int64) throws(GuestOperationError) {
            calls.withLock { $0.append((seconds, microseconds)) }
        }
    }

    func testDateTimeValidatesBeforeSetting() throws {
        let clock = RecordingClock()
        try GuestDateTime.set(seconds: 1_700_000_000, microseconds: 999_999, clock: clock)
        XCTAssertEqual(clock.calls.withLock { $0.count }, 1)
        for (sec, usec, field) in [(Int64(-1), Int64(0), "Sec"), (0, -1, "Usec"), (0, 1_000_000, "Usec"), (Int64.max, 0, "Sec")] {
            XCTAssertThrowsError(try GuestDateTime.set(seconds: sec, microseconds: usec, clock: clock)) { error in
                XCTAssertEqual((error as? GuestOperationError)?.kind, .invalidArgument(field: field))
            }
        }
        XCTAssertEqual(clock.calls.withLock { $0.count }, 1)
    }

    func testKernelClockSetToNow() throws {
        try requireRoot("settimeofday")
        // Setting the clock to the current time leaves the machine's time as it is.
        var now = timeval()
        gettimeofday(&now, nil)
        try GuestDateTime.set(seconds: Int64(now.tv_sec), microseconds: Int64(now.tv_usec), clock: KernelClock())
    }

    // MARK: random

    private final class RecordingRandom: RandomDeviceControl {
        let calls = Mutex<[String]>([])
        func addToEntropyCount(fd: Int32, count: Int32) throws(GuestOperationError) { calls.withLock { $0.append("add \(count)") } }
        func reseedCRNG(fd: Int32) throws(GuestOperationError) { calls.withLock { $0.append("reseed") } }
    }

    func testReseedWritesThenCreditsThenReseeds() throws {
        try writeFile(roots.randomDevice, "")
        let device = RecordingRandom()
        try GuestRandom.reseed(data: Array("seed-bytes".utf8), roots: roots, device: device)
        XCTAssertEqual(try readFile(roots.randomDevice), "seed-bytes")
        XCTAssertEqual(device.calls.withLock { $0 }, ["add 10", "reseed"])
    }

    func testReseedRejectsEmptyData() throws {
        XCTAssertThrowsError(try GuestRandom.reseed(data: [], roots: roots, device: RecordingRandom())) { error in
            XCTAssertEqual((error as? GuestOperationError)?.kind, .invalidArgument(field: "data"))
        }
    }

    func testKernelRandomDeviceIoctls() throws {
        try requireRoot("RNDADDTOENTCNT and RNDRESEEDCRNG need CAP_SYS_ADMIN")
        // Real random bytes, so mixing them in does not weaken the machine's pool.
        let seed = try XCTUnwrap(FileHandle(forReadingAtPath: "/dev/urandom")?.readData(ofLength: 32))
        try GuestRandom.reseed(data: Array(seed), roots: .system, device: KernelRandomDevice())
    }

    // MARK: metrics

    func testMetricsFromFakeProc() throws {
        let proc = roots.procfs
        try writeFile(proc + "/self/stat", "42 (kata agent) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 7 0 100 123456789 1000 18446744073709551615\n")
        try FileManager.default.createDirectory(atPath: proc + "/self/fd", withIntermediateDirectories: true)
        for fd in 0..<3 { try writeFile(proc + "/self/fd/\(fd)", "") }
        try writeFile(proc + "/loadavg", "0.50 0.25 0.10 2/345 6789\n")
        try writeFile(proc + "/stat", "cpu  100 0 50 1000 0 0 0 0 0 0\ncpu0 100 0 50 1000 0 0 0 0 0 0\nintr 1 2\n")
        try writeFile(proc + "/meminfo", "MemTotal:       2048 kB\nActive(anon):     10 kB\nHugePages_Total:       0\n")
        try writeFile(proc + "/diskstats", "   8       0 vda 10 0 80 5 20 0 160 9 0 14 14 0 0 0 0\n")
        try writeFile(proc + "/net/dev", "Inter-|   Receive |  Transmit\n face |bytes packets|bytes\n    lo: 100 2 0 0 0 0 0 0 100 2 0 0 0 0 0 0\n")
        let text = try GuestMetrics(roots: roots).scrape()
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        let page = Double(sysconf(Int32(_SC_PAGESIZE)))
        for line in [
            "kata_agent_scrape_count 1",
            "kata_agent_threads 7",
            "kata_agent_total_time \(PrometheusText.format(300 / ticks))",
            "kata_agent_total_vm 123456789",
            "kata_agent_total_rss \(PrometheusText.format(1000 * page))",
            "kata_agent_open_fds 3",
            "kata_guest_load{item=\"load1\"} 0.5",
            "kata_guest_tasks{item=\"max\"} 345",
            "kata_guest_cpu_time{cpu=\"total\",item=\"user\"} \(PrometheusText.format(100 / ticks))",
            "kata_guest_cpu_time{cpu=\"0\",item=\"idle\"} \(PrometheusText.format(1000 / ticks))",
            "kata_guest_meminfo{item=\"mem_total\"} 2097152",
            "kata_guest_meminfo{item=\"active_anon\"} 10240",
            "kata_guest_meminfo{item=\"huge_pages_total\"} 0",
            "kata_guest_diskstat{disk=\"vda\",item=\"sectors_read\"} 80",
            "kata_guest_netdev_stat{interface=\"lo\",item=\"recv_bytes\"} 100",
            "# TYPE kata_agent_scrape_count counter",
            "# TYPE kata_guest_load gauge",
        ] {
            XCTAssertTrue(text.split(separator: "\n").contains(Substring(line)), "missing '\(line)' in:\n\(text)")
        }
    }

    func testMetricsOfThisProcess() throws {
        let metrics = GuestMetrics(roots: .system)
        _ = try metrics.scrape()
        let text = try metrics.scrape()
        XCTAssertTrue(text.contains("kata_agent_scrape_count 2\n"), text)
        for name in ["kata_agent_total_rss ", "kata_agent_open_fds ", "kata_agent_threads ", "kata_guest_meminfo{", "kata_guest_cpu_time{", "kata_guest_netdev_stat{"] {
            XCTAssertTrue(text.contains(name), "missing \(name)")
        }
    }

    func testMetricsNamesAndEscaping() {
        XCTAssertEqual(GuestMetrics.snakeCase("MemTotal"), "mem_total")
        XCTAssertEqual(GuestMetrics.snakeCase("Active(anon)"), "active_anon")
        XCTAssertEqual(GuestMetrics.snakeCase("DirectMap4k"), "direct_map4k")
        XCTAssertEqual(PrometheusText.escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd")
        XCTAssertEqual(PrometheusText.format(1.5), "1.5")
        XCTAssertEqual(PrometheusText.format(3), "3")
    }

    func testProcStatWithSpacesAndParensInCommand() {
        let stat = ProcParsers.processStat("1 (a) b) (c) S 0 1 1 0 -1 0 0 0 0 0 5 6 0 0 20 0 3 0 10 4096 2\n")
        XCTAssertEqual(stat, ProcParsers.ProcessStat(userTicks: 5, systemTicks: 6, threads: 3, virtualBytes: 4096, residentPages: 2))
        XCTAssertNil(ProcParsers.processStat("garbage"))
    }
}
