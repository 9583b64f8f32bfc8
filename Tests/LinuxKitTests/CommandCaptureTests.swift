import Glibc
import Logging
import XCTest

@testable import LinuxKit

/// `Reaper.runCapturing`: stdin in, stdout and stderr apart, the exit status, a spawn failure
/// with its errno, and the deadline that kills a tool which does not finish.
final class CommandCaptureTests: XCTestCase {
    private func reaper() throws -> Reaper {
        try Reaper(mode: .registeredOnly, logger: Logger(label: "capture-test"))
    }

    func testInputOutputErrorAndStatus() async throws {
        let reaper = try reaper()
        // More than a pipe buffer each way: memfds cannot block either side.
        let input = [UInt8](repeating: UInt8(ascii: "x"), count: 300_000)
        let result = try await reaper.runCapturing(path: "/bin/sh", arguments: ["sh", "-c", "cat; echo oops >&2; exit 3"], input: input)
        XCTAssertEqual(result.status, 3)
        XCTAssertEqual(result.standardOutput, input)
        XCTAssertEqual(String(decoding: result.standardError, as: UTF8.self), "oops\n")
    }

    func testMissingToolIsASpawnErrorWithENOENT() async throws {
        let reaper = try reaper()
        do {
            _ = try await reaper.runCapturing(path: "/nonexistent/iptables-save", arguments: ["iptables-save"])
            XCTFail("spawned a missing binary")
        } catch {
            guard case let .spawn(spawn) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(spawn.errno, ENOENT)
        }
    }

    func testDeadlineKillsTheTool() async throws {
        let reaper = try reaper()
        do {
            _ = try await reaper.runCapturing(path: "/bin/sh", arguments: ["sh", "-c", "exec sleep 30"], timeoutSeconds: 1)
            XCTFail("a 30 s sleep finished within its 1 s deadline")
        } catch {
            XCTAssertEqual(error, .timedOut(path: "/bin/sh", seconds: 1))
        }
    }
}
