import Foundation
import GRPCCore
import KataProtocols
import SwiftProtobuf
import XCTest

/// The guest-level and health RPCs, driven through the real gRPC stack against a real kata-agent
/// process (ordinary process, unix socket). After every bad input the agent must still serve.
final class GuestRPCTests: XCTestCase {
    private func options() -> CallOptions { AgentProcess.callOptions() }

    func testHealthCheckAndVersion() async throws {
        let agent = try await AgentProcess.start(for: self)
        let check = try await agent.health.check(Grpc_CheckRequest(), options: options())
        XCTAssertEqual(check.status, .serving)
        let version = try await agent.health.version(Grpc_CheckRequest(), options: options())
        XCTAssertEqual(version.grpcVersion, "0.0.1")
        XCTAssertFalse(version.agentVersion.isEmpty)
    }

    func testStandardHealthService() async throws {
        let agent = try await AgentProcess.start(for: self)
        for service in ["", "grpc.AgentService", "grpc.Health", "grpc.health.v1.Health"] {
            var request = Grpc_Health_V1_HealthCheckRequest()
            request.service = service
            let reply = try await agent.standardHealth.check(request, options: options())
            XCTAssertEqual(reply.status, .serving, service)
        }
        var unknown = Grpc_Health_V1_HealthCheckRequest()
        unknown.service = "no.such.Service"
        await assertRPCError(.notFound, containing: "no.such.Service") {
            try await agent.standardHealth.check(unknown, options: options())
        }
        await agent.assertServing()
    }

    func testUnbuiltRPCAnswersUnimplementedNamingItself() async throws {
        let agent = try await AgentProcess.start(for: self)
        await assertRPCError(.unimplemented, containing: "MemAgentMemcgSet") {
            try await agent.agentService.memAgentMemcgSet(Grpc_MemAgentMemcgConfig(), options: options())
        }
        await agent.assertServing()
    }

    func testGetGuestDetails() async throws {
        let agent = try await AgentProcess.start(for: self)
        var request = Grpc_GuestDetailsRequest()
        request.memBlockSize = true
        request.memHotplugProbe = true
        let reply = try await agent.agentService.getGuestDetails(request, options: options())
        let blockSizeFile = "/sys/devices/system/memory/block_size_bytes"
        if let text = try? String(contentsOfFile: blockSizeFile, encoding: .utf8) {
            XCTAssertEqual(reply.memBlockSizeBytes, UInt64(text.trimmingCharacters(in: .whitespacesAndNewlines), radix: 16))
        } else {
            XCTAssertEqual(reply.memBlockSizeBytes, 0)
        }
        XCTAssertEqual(reply.supportMemHotplugProbe, FileManager.default.fileExists(atPath: "/sys/devices/system/memory/probe"))
        let version = try await agent.health.version(Grpc_CheckRequest(), options: options())
        XCTAssertTrue(reply.hasAgentDetails)
        XCTAssertEqual(reply.agentDetails.version, version.agentVersion)
        XCTAssertFalse(reply.agentDetails.initDaemon, "the test agent is not PID 1")
        XCTAssertTrue(reply.agentDetails.storageHandlers.contains("local"), "\(reply.agentDetails.storageHandlers)")
        let status = try String(contentsOfFile: "/proc/self/status", encoding: .utf8)
        XCTAssertEqual(reply.agentDetails.supportsSeccomp, status.contains("\nSeccomp:"))

        // Nothing asked, nothing measured.
        let empty = try await agent.agentService.getGuestDetails(Grpc_GuestDetailsRequest(), options: options())
        XCTAssertEqual(empty.memBlockSizeBytes, 0)
        XCTAssertFalse(empty.supportMemHotplugProbe)
    }

    func testSetGuestDateTime() async throws {
        let agent = try await AgentProcess.start(for: self)
        for (sec, usec, field) in [(Int64(-1), Int64(0), "Sec"), (Int64(0), Int64(1_000_000), "Usec"), (Int64(0), Int64(-5), "Usec")] {
            var bad = Grpc_SetGuestDateTimeRequest()
            bad.sec = sec
            bad.usec = usec
            await assertRPCError(.invalidArgument, containing: field) {
                try await agent.agentService.setGuestDateTime(bad, options: options())
            }
            await agent.assertServing()
        }
        guard getuid() == 0 else { throw XCTSkip("setting the clock needs root; bad inputs were checked") }
        // Setting the clock to the current time leaves the machine's time as it is.
        var now = timeval()
        gettimeofday(&now, nil)
        var request = Grpc_SetGuestDateTimeRequest()
        request.sec = Int64(now.tv_sec)
        request.usec = Int64(now.tv_usec)
        _ = try await agent.agentService.setGuestDateTime(request, options: options())
    }

    func testReseedRandomDev() async throws {
        let agent = try await AgentProcess.start(for: self)
        await assertRPCError(.invalidArgument, containing: "data") {
            try await agent.agentService.reseedRandomDev(Grpc_ReseedRandomDevRequest(), options: options())
        }
        await agent.assertServing()
        guard getuid() == 0 else { throw XCTSkip("the random ioctls need root; the bad input was checked") }
        var request = Grpc_ReseedRandomDevRequest()
        // Real random bytes, so crediting them does not weaken the machine's pool.
        request.data = try XCTUnwrap(FileHandle(forReadingAtPath: "/dev/urandom")?.readData(ofLength: 64))
        _ = try await agent.agentService.reseedRandomDev(request, options: options())
    }

    func testOnlineCPUMem() async throws {
        let agent = try await AgentProcess.start(for: self)
        var bad = Grpc_OnlineCPUMemRequest()
        bad.nbCpus = 1_000_000
        bad.wait = true
        await assertRPCError(.invalidArgument, containing: "nb_cpus") {
            try await agent.agentService.onlineCPUMem(bad, options: options())
        }
        await agent.assertServing()
        // Ask for no more CPUs than are online and CPUs only: succeeds without touching the machine.
        var request = Grpc_OnlineCPUMemRequest()
        request.nbCpus = UInt32(ProcessInfo.processInfo.activeProcessorCount)
        request.cpuOnly = true
        request.wait = true
        _ = try await agent.agentService.onlineCPUMem(request, options: options())
    }

    func testMemHotplugByProbe() async throws {
        let agent = try await AgentProcess.start(for: self)
        guard !FileManager.default.fileExists(atPath: "/sys/devices/system/memory/probe") else {
            throw XCTSkip("this kernel has a memory probe interface; probing real addresses would change the machine")
        }
        var request = Grpc_MemHotplugByProbeRequest()
        request.memHotplugProbeAddr = [0x1_0000_0000]
        await assertRPCError(.failedPrecondition, containing: "probe") {
            try await agent.agentService.memHotplugByProbe(request, options: options())
        }
        await agent.assertServing()
    }

    func testGetMetrics() async throws {
        let agent = try await AgentProcess.start(for: self)
        let text = try await agent.agentService.getMetrics(Grpc_GetMetricsRequest(), options: options()).metrics
        for name in [
            "kata_agent_scrape_count 1", "kata_agent_total_rss ", "kata_agent_open_fds ", "kata_agent_threads ",
            "kata_agent_total_time ", "kata_guest_load{", "kata_guest_cpu_time{", "kata_guest_meminfo{",
            "kata_guest_diskstat{", "kata_guest_netdev_stat{",
        ] {
            XCTAssertTrue(text.contains(name), "missing \(name) in:\n\(text.prefix(2000))")
        }
        let rss = text.split(separator: "\n").first { $0.hasPrefix("kata_agent_total_rss ") }
            .flatMap { Double($0.split(separator: " ")[1]) }
        XCTAssertGreaterThan(try XCTUnwrap(rss), 1_000_000, "an agent's RSS is more than a megabyte")
    }

    func testConcurrentRequests() async throws {
        let agent = try await AgentProcess.start(for: self)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<32 {
                group.addTask {
                    if index % 2 == 0 {
                        let reply = try await agent.health.check(Grpc_CheckRequest(), options: AgentProcess.callOptions())
                        XCTAssertEqual(reply.status, .serving)
                    } else {
                        var request = Grpc_GuestDetailsRequest()
                        request.memBlockSize = true
                        _ = try await agent.agentService.getGuestDetails(request, options: AgentProcess.callOptions())
                    }
                }
            }
            try await group.waitForAll()
        }
    }
}
