import Foundation
import GRPCCore
import KataProtocols
import SwiftProtobuf
import XCTest

/// The agent's ttrpc server against containerd/ttrpc's own Go client (the library the Kata Go
/// runtime uses), over a unix socket: an implementation we did not write decides whether our
/// framing, envelopes, status codes, deadlines and limits are right.
final class TTRPCInteropTests: XCTestCase {
    /// Canonical status names by code, as the Go client prints them.
    static let statusNames = [
        "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
        "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
        "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED",
    ]

    private func run(_ agent: AgentProcess, _ steps: [[String: Any]],
                     file: StaticString = #filePath, line: UInt = #line) throws -> [[String: Any]] {
        try GoTTRPCClient.run(steps, address: "unix://" + agent.socketPath, in: self, file: file, line: line)
    }

    func testHealthAndVersionOverGoTTRPC() async throws {
        let agent = try await AgentProcess.start(for: self)
        let results = try run(agent, [
            ["op": "call", "rpc": "grpc.Health/Check"],
            ["op": "call", "rpc": "grpc.Health/Version"],
            ["op": "call", "rpc": "grpc.health.v1.Health/Check"],
            ["op": "call", "rpc": "grpc.AgentService/GetGuestDetails", "request": ["mem_block_size": true]],
        ])
        guard results.count == 4 else { return }
        for result in results { XCTAssertEqual(result["code"] as? String, "OK", "\(result)") }
        XCTAssertEqual((results[0]["response"] as? [String: Any])?["status"] as? String, "SERVING", "\(results[0])")
        let version = try XCTUnwrap(results[1]["response"] as? [String: Any], "\(results[1])")
        XCTAssertFalse((version["agent_version"] as? String ?? "").isEmpty, "\(version)")
        XCTAssertFalse((version["grpc_version"] as? String ?? "").isEmpty, "\(version)")
        XCTAssertEqual((results[2]["response"] as? [String: Any])?["status"] as? String, "SERVING", "\(results[2])")
        let details = try XCTUnwrap(results[3]["response"] as? [String: Any], "\(results[3])")
        XCTAssertFalse(((details["agent_details"] as? [String: Any])?["version"] as? String ?? "").isEmpty, "\(details)")
        await agent.assertServing()
    }

    func testErrorsCarryTheSameStatusAsGRPC() async throws {
        let agent = try await AgentProcess.start(for: self)
        let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        let results = try run(agent, [
            // Metadata as the Go runtime sends it with tracing on: the trace reaches the log.
            ["op": "call", "rpc": "grpc.AgentService/WaitProcess", "metadata": ["traceparent": traceparent],
             "request": ["container_id": "no-such-container", "exec_id": "x"]],
            ["op": "call", "rpc": "grpc.AgentService/CreateSandbox",
             "request": ["hostname": "bad host", "sandbox_id": "s1"]],
            // Bytes no protobuf decoder accepts (a truncated length-delimited field 1).
            ["op": "raw", "rpc": "grpc.AgentService/WaitProcess", "hex": "0a05ff"],
            ["op": "raw", "rpc": "grpc.AgentService/NoSuchRpc", "hex": ""],
            ["op": "raw", "rpc": "grpc.NoSuchService/Check", "hex": ""],
        ])
        guard results.count == 5 else { return }
        XCTAssertEqual(results[0]["code"] as? String, "NOT_FOUND", "\(results[0])")
        XCTAssertTrue((results[0]["message"] as? String ?? "").contains("no-such-container"), "\(results[0])")
        XCTAssertTrue(agent.log().contains(#""traceparent":"\#(traceparent)""#), "the request's trace context is not in the log")
        XCTAssertEqual(results[1]["code"] as? String, "INVALID_ARGUMENT", "\(results[1])")
        XCTAssertTrue((results[1]["message"] as? String ?? "").contains("hostname"), "\(results[1])")
        XCTAssertEqual(results[2]["code"] as? String, "INVALID_ARGUMENT", "\(results[2])")
        XCTAssertEqual(results[3]["code"] as? String, "UNIMPLEMENTED", "\(results[3])")
        XCTAssertTrue((results[3]["message"] as? String ?? "").contains("NoSuchRpc"), "\(results[3])")
        XCTAssertEqual(results[4]["code"] as? String, "UNIMPLEMENTED", "\(results[4])")
        XCTAssertTrue((results[4]["message"] as? String ?? "").contains("grpc.NoSuchService"), "\(results[4])")
        for result in results[2...] {
            XCTAssertEqual(result["then_check"] as? String, "OK", "the connection must keep working: \(result)")
        }

        // The same request over gRPC gets the same code and message.
        var wait = Grpc_WaitProcessRequest()
        wait.containerID = "no-such-container"
        wait.execID = "x"
        do {
            _ = try await agent.agentService.waitProcess(wait, options: AgentProcess.callOptions())
            XCTFail("WaitProcess of an unknown container succeeded over gRPC")
        } catch let error as RPCError {
            XCTAssertEqual(Self.statusNames[error.code.rawValue], results[0]["code"] as? String)
            XCTAssertEqual(error.message, results[0]["message"] as? String)
        }
    }

    func testServerEnforcesTimeoutNanoOnALongPoll() async throws {
        let agent = try await AgentProcess.start(for: self)
        // timeout_nano 300 ms while the client itself would wait 60 s: the answer must be the
        // agent's DEADLINE_EXCEEDED, and the connection goes on.
        let results = try run(agent, [
            ["op": "call", "rpc": "grpc.AgentService/GetOOMEvent", "server_timeout_ms": 300, "timeout_ms": 60_000],
            ["op": "call", "rpc": "grpc.Health/Check"],
        ])
        guard results.count == 2 else { return }
        XCTAssertEqual(results[0]["code"] as? String, "DEADLINE_EXCEEDED", "\(results[0])")
        XCTAssertEqual(results[1]["code"] as? String, "OK", "\(results[1])")
    }

    func testHundredConcurrentCallsOnOneConnection() async throws {
        let agent = try await AgentProcess.start(for: self)
        let results = try run(agent, [
            ["op": "concurrent", "n": 100, "rpc": "grpc.Health/Check"],
            ["op": "concurrent", "n": 100, "rpc": "grpc.AgentService/GetGuestDetails", "request": ["mem_block_size": true]],
            // Slow and fast calls mixed: answers come out of order and must still match.
            ["op": "concurrent", "n": 100, "rpc": "grpc.AgentService/GetOOMEvent", "server_timeout_ms": 200],
        ])
        guard results.count == 3 else { return }
        XCTAssertEqual(results[0]["codes"] as? [String: Int], ["OK": 100], "\(results[0])")
        XCTAssertEqual(results[1]["codes"] as? [String: Int], ["OK": 100], "\(results[1])")
        XCTAssertEqual(results[2]["codes"] as? [String: Int], ["DEADLINE_EXCEEDED": 100], "\(results[2])")
    }

    func testOversizedRequestIsRefusedAndTheConnectionKeepsWorking() async throws {
        let agent = try await AgentProcess.start(for: self)
        let results = try run(agent, [
            ["op": "raw", "rpc": "grpc.AgentService/CopyFile", "bytes": 5 << 20],
            ["op": "call", "rpc": "grpc.Health/Check"],
        ])
        guard results.count == 2 else { return }
        XCTAssertEqual(results[0]["code"] as? String, "RESOURCE_EXHAUSTED", "\(results[0])")
        XCTAssertEqual(results[0]["then_check"] as? String, "OK", "\(results[0])")
        XCTAssertEqual(results[1]["code"] as? String, "OK", "\(results[1])")
    }

    func testGarbageEndsOnlyItsOwnConnection() async throws {
        let agent = try await AgentProcess.start(for: self)
        // The script's own connection stays open while a second one sends garbage.
        let results = try run(agent, [
            ["op": "call", "rpc": "grpc.Health/Check"],
            ["op": "garbage"],
            ["op": "call", "rpc": "grpc.Health/Check"],
            ["op": "reconnect"],
            ["op": "call", "rpc": "grpc.Health/Version"],
        ])
        guard results.count == 5 else { return }
        XCTAssertEqual(results[1]["closed"] as? Bool, true, "the agent must close the garbage connection: \(results[1])")
        for index in [0, 2, 3, 4] {
            XCTAssertEqual(results[index]["code"] as? String, "OK", "\(results[index])")
        }
        await agent.assertServing()
    }
}

/// A container through the Go ttrpc client: the Kata runtime's calls for one process.
final class TTRPCInteropContainerTests: ContainerRPCTestCase {
    func testContainerRunReadStdoutUntilEOFAndWait() async throws {
        let agent = try await AgentProcess.start(for: self)
        let id = ContainerRPCClient.uniqueID("ttrpc")
        var create = Grpc_CreateContainerRequest()
        create.containerID = id
        create.execID = id
        create.oci = ContainerRPCClient.spec(
            ["sh", "-c", "i=0; while [ $i -lt 2000 ]; do echo line $i; i=$((i+1)); done; echo done; exit 3"], rootfs: rootfs)
        var options = JSONEncodingOptions()
        options.preserveProtoFieldNames = true
        let createJSON = try GoTTRPCClient.object(json: create.jsonString(options: options))
        let results = try GoTTRPCClient.run([
            ["op": "call", "rpc": "grpc.AgentService/CreateSandbox",
             "request": ["hostname": "ttrpc-pod", "sandbox_id": "ttrpc-sandbox"]],
            ["op": "call", "rpc": "grpc.AgentService/CreateContainer", "request": createJSON],
            ["op": "call", "rpc": "grpc.AgentService/StartContainer", "request": ["container_id": id]],
            ["op": "drain", "container_id": id, "exec_id": id, "len": 4096],
            ["op": "call", "rpc": "grpc.AgentService/WaitProcess", "request": ["container_id": id, "exec_id": id]],
            ["op": "call", "rpc": "grpc.AgentService/RemoveContainer", "request": ["container_id": id]],
            ["op": "call", "rpc": "grpc.AgentService/DestroySandbox"],
        ], address: "unix://" + agent.socketPath, in: self)
        guard results.count == 7 else { return }
        for result in results { XCTAssertEqual(result["code"] as? String, "OK", "\(result)") }
        let text = results[3]["text"] as? String ?? ""
        let expected = (0..<2000).map { "line \($0)\n" }.joined() + "done\n"
        XCTAssertEqual(text, expected, "stdout through ReadStdout until EOF")
        XCTAssertEqual(results[3]["bytes"] as? Int, expected.utf8.count)
        XCTAssertEqual((results[4]["response"] as? [String: Any])?["status"] as? Int, 3, "\(results[4])")
    }
}
