import Foundation
import XCTest

/// `kata-agent-ctl bench`: the JSON shape and the percentile order, never the durations.
final class AgentCtlBenchTests: XCTestCase {
    func testBenchHealthPrintsOrderedSummary() async throws {
        let agent = try await AgentProcess.start(for: self)
        for transport in AgentCtl.transports {
            try assertOrderedSummary(agent, transport: transport)
        }
        await agent.assertServing()
    }

    private func assertOrderedSummary(_ agent: AgentProcess, transport: [String]) throws {
        let result = try AgentCtl.run(
            ["bench", "health", "--addr", "unix://" + agent.socketPath, "--calls", "200", "--warmup", "5"] + transport,
            in: self)
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertEqual(result.stdoutLines.count, 1, result.stdout)
        let object = try XCTUnwrap(
            try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any], result.stdout)
        XCTAssertEqual(Set(object.keys), ["calls", "p50_us", "p99_us", "min_us", "max_us", "mean_us"])
        XCTAssertEqual(object["calls"] as? Int, 200)
        let number = { (key: String) in try XCTUnwrap((object[key] as? NSNumber)?.doubleValue, key) }
        let (low, p50, p99, high, mean) = try (number("min_us"), number("p50_us"), number("p99_us"),
                                               number("max_us"), number("mean_us"))
        XCTAssertGreaterThan(low, 0)
        XCTAssertLessThanOrEqual(low, p50)
        XCTAssertLessThanOrEqual(p50, p99)
        XCTAssertLessThanOrEqual(p99, high)
        XCTAssertTrue((low...high).contains(mean), "mean \(mean) outside \(low)...\(high)")
    }

    func testBenchHealthTakesTheGlobalAddress() async throws {
        let agent = try await AgentProcess.start(for: self)
        let result = try AgentCtl.run(
            ["--server-address", "unix://" + agent.socketPath, "bench", "health", "--calls", "3", "--warmup", "0"],
            in: self)
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stdout.hasPrefix(#"{"calls":3,"#), result.stdout)
    }

    func testBenchReadStdoutOfUnknownContainerIsOneErrorLine() async throws {
        let agent = try await AgentProcess.start(for: self)
        for transport in AgentCtl.transports {
            let result = try AgentCtl.run(
                transport + ["bench", "read-stdout", "--addr", "unix://" + agent.socketPath,
                             "--container-id", "no-such-container"],
                in: self)
            XCTAssertEqual(result.status, 1, "\(transport)")
            XCTAssertEqual(result.stdout, "")
            XCTAssertEqual(result.stderrLines.count, 1, result.stderr)
            XCTAssertTrue(result.stderr.contains("ReadStdout failed: NOT_FOUND"), "\(transport): \(result.stderr)")
        }
    }

    func testBenchRejectsBadCountsBeforeConnecting() throws {
        for arguments in [
            ["bench", "health", "--addr", "unix:///nonexistent/agent.sock", "--calls", "0"],
            ["bench", "health", "--addr", "unix:///nonexistent/agent.sock", "--warmup=-1"],
            ["bench", "read-stdout", "--addr", "unix:///nonexistent/agent.sock", "--container-id", "c", "--chunk", "0"],
            ["bench", "health"],
        ] {
            let result = try AgentCtl.run(arguments, in: self)
            XCTAssertEqual(result.status, 2, "\(arguments): \(result.stderr)")
            XCTAssertEqual(result.stderrLines.count, 1, "\(arguments): \(result.stderr)")
            XCTAssertEqual(result.stdout, "", "\(arguments)")
        }
    }
}
