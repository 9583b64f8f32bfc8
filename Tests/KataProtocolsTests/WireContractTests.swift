import Foundation
import GRPCCore
import KataProtocols
import SwiftProtobuf
import XCTest

/// The wire facts an upstream Kata client depends on: service paths and field numbers.
final class WireContractTests: XCTestCase {
    /// Upstream agent.proto's AgentService, in declaration order.
    static let agentServiceMethods = [
        "CreateContainer", "StartContainer", "RemoveContainer", "ExecProcess", "SignalProcess",
        "WaitProcess", "UpdateContainer", "UpdateEphemeralMounts", "StatsContainer",
        "PauseContainer", "ResumeContainer", "RemoveStaleVirtiofsShareMounts", "GetDiagnosticData",
        "WriteStdin", "ReadStdout", "ReadStderr", "CloseStdin", "TtyWinResize", "UpdateInterface",
        "UpdateRoutes", "ListInterfaces", "ListRoutes", "AddARPNeighbors", "GetIPTables",
        "SetIPTables", "GetMetrics", "MemAgentMemcgSet", "MemAgentCompactSet", "CreateSandbox",
        "DestroySandbox", "OnlineCPUMem", "ReseedRandomDev", "GetGuestDetails",
        "MemHotplugByProbe", "SetGuestDateTime", "CopyFile", "GetOOMEvent", "AddSwap",
        "AddSwapPath", "GetVolumeStats", "ResizeVolume", "SetPolicy",
    ]

    func testAgentServiceMethodPaths() {
        XCTAssertEqual(Self.agentServiceMethods.count, 42)
        let descriptors = Grpc_AgentService.Method.descriptors
        XCTAssertEqual(descriptors.map(\.fullyQualifiedMethod),
                       Self.agentServiceMethods.map { "grpc.AgentService/\($0)" })
        XCTAssertTrue(descriptors.allSatisfy { $0.type == .unary })
    }

    func testHealthMethodPaths() {
        XCTAssertEqual(Grpc_Health.Method.descriptors.map(\.fullyQualifiedMethod),
                       ["grpc.Health/Check", "grpc.Health/Version"])
        XCTAssertEqual(Grpc_Health_V1_Health.Method.Check.descriptor.fullyQualifiedMethod,
                       "grpc.health.v1.Health/Check")
        XCTAssertEqual(Grpc_Health_V1_Health.Method.Watch.descriptor.fullyQualifiedMethod,
                       "grpc.health.v1.Health/Watch")
        XCTAssertEqual(Grpc_Health_V1_Health.Method.Watch.descriptor.type, .serverStreaming)
    }

    func testCreateContainerRequestFieldNumbers() throws {
        var request = Grpc_CreateContainerRequest()
        request.containerID = "c1"
        request.execID = "e1"
        request.stringUser.uid = "0"
        request.devices = [Grpc_Device()]
        request.storages = [Grpc_Storage()]
        request.oci.version = "1.1.0"
        request.sandboxPidns = true
        request.sharedMounts = [Grpc_SharedMount()]
        request.stdinPort = 1
        request.stdoutPort = 2
        request.stderrPort = 3
        XCTAssertEqual(try WireFields(parsing: request.serializedData()), WireFields([
            1: .length, 2: .length, 3: .length, 4: .length, 5: .length, 6: .length,
            7: .varint, 8: .length, 9: .varint, 10: .varint, 11: .varint,
        ]))
    }

    func testCopyFileRequestFieldNumbers() throws {
        var request = Grpc_CopyFileRequest()
        request.path = "/run/x"
        request.fileSize = 10
        request.fileMode = 0o644
        request.dirMode = 0o755
        request.uid = 1
        request.gid = 2
        request.offset = 3
        request.data = Data("abc".utf8)
        XCTAssertEqual(try WireFields(parsing: request.serializedData()), WireFields([
            1: .length, 2: .varint, 3: .varint, 4: .varint, 5: .varint, 6: .varint,
            7: .varint, 8: .length,
        ]))
    }

    func testReadStreamRequestFieldNumbersAndBytes() throws {
        var request = Grpc_ReadStreamRequest()
        request.containerID = "c"
        request.execID = "e"
        request.len = 300
        // container_id=1 "c", exec_id=2 "e", len=3 varint 300 (0xac 0x02).
        XCTAssertEqual([UInt8](try request.serializedData()),
                       [0x0a, 0x01, 0x63, 0x12, 0x01, 0x65, 0x18, 0xac, 0x02])
    }

    func testFieldNumbersUpstreamSkips() throws {
        // Upstream never used field 1 in these two messages; a shifted number breaks clients.
        var reseed = Grpc_ReseedRandomDevRequest()
        reseed.data = Data([1])
        XCTAssertEqual(try WireFields(parsing: reseed.serializedData()), WireFields([2: .length]))

        var group = Grpc_FSGroup()
        group.groupID = 5
        group.groupChangePolicy = .onRootMismatch
        XCTAssertEqual(try WireFields(parsing: group.serializedData()),
                       WireFields([2: .varint, 3: .varint]))
    }

    func testSpecAndProcessFieldNumbers() throws {
        var process = Grpc_Process()
        process.terminal = true
        process.args = ["sh"]
        process.cwd = "/"
        process.oomscoreAdj = -1
        XCTAssertEqual(try WireFields(parsing: process.serializedData()),
                       WireFields([1: .varint, 4: .length, 6: .length, 11: .varint]))

        var syscall = Grpc_LinuxSyscall()
        syscall.names = ["read"]
        syscall.errnoret = 0
        // The oneof carries presence: errno 0 is still on the wire.
        XCTAssertEqual(try WireFields(parsing: syscall.serializedData()),
                       WireFields([1: .length, 3: .varint]))
    }

    func testProtobufJSONUsesUpstreamFieldNames() throws {
        // Clients (kata-agent-ctl, tests) write requests with upstream's proto field names.
        let request = try Grpc_GuestDetailsRequest(
            jsonString: #"{"mem_block_size": true, "mem_hotplug_probe": true}"#)
        XCTAssertTrue(request.memBlockSize)
        XCTAssertTrue(request.memHotplugProbe)

        let spec = try Grpc_Spec(jsonString: #"{"Process": {"Args": ["true"], "Cwd": "/"}}"#)
        XCTAssertEqual(spec.process.args, ["true"])

        var options = JSONEncodingOptions()
        options.preserveProtoFieldNames = true
        var routes = Grpc_Routes()
        routes.routes = [Types_Route()]
        routes.routes[0].dest = "0.0.0.0/0"
        XCTAssertEqual(try routes.jsonString(options: options), #"{"Routes":[{"dest":"0.0.0.0/0"}]}"#)
    }

    func testMemAgentConfigKeepsPresence() throws {
        var config = Grpc_MemAgentMemcgConfig()
        XCTAssertFalse(config.hasDisabled)
        config.disabled = false
        XCTAssertTrue(config.hasDisabled)
        XCTAssertEqual(try WireFields(parsing: config.serializedData()), WireFields([1: .varint]))
    }
}
