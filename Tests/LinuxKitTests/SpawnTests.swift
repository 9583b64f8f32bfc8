import Foundation
import Glibc
import XCTest
@testable import LinuxKit

final class SpawnTests: XCTestCase {
    var reaper: Reaper!

    override func setUpWithError() throws {
        reaper = try Reaper(mode: .registeredOnly)
    }

    override func tearDown() {
        reaper.shutdown()
    }

    /// Runs a shell snippet with stdout on a pipe; returns (output, status).
    private func run(_ script: String, environment: [String] = [], cwd: String? = nil,
                     session: SpawnSession = .inherit, extra: [SpawnFileAction] = [],
                     closeFrom: Int32? = nil) async throws -> (String, Int32) {
        let pipe = try TestPipe()
        let pid = try reaper.spawn(path: "/bin/sh", arguments: ["sh", "-c", script], environment: environment,
                                   fileActions: [.dup2(from: pipe.write, to: 1)] + extra,
                                   closeDescriptorsFrom: closeFrom, workingDirectory: cwd, session: session)
        close(pipe.write)
        let output = pipe.readAll()
        close(pipe.read)
        let reaper = self.reaper!
        let status = try await withDeadline(10, script) { try await reaper.wait(pid) }
        return (output.trimmingCharacters(in: .whitespacesAndNewlines), status)
    }

    func testEnvironmentIsExactlyTheGivenOne() async throws {
        let (output, status) = try await run("echo \"$FOO|$HOME\"", environment: ["FOO=bar"])
        XCTAssertEqual(status, 0)
        XCTAssertEqual(output, "bar|")
    }

    func testWorkingDirectory() async throws {
        let (output, _) = try await run("pwd", cwd: "/proc")
        XCTAssertEqual(output, "/proc")
    }

    func testNewSessionAndProcessGroup() async throws {
        // /proc/self/stat fields after the comm: state ppid pgrp session.
        let script = "read -r s < /proc/$$/stat; echo \"$$ ${s#*) }\""
        for (session, check) in [(SpawnSession.newSession, "session"), (.newProcessGroup, "pgrp")] {
            let (output, _) = try await run(script, session: session)
            let words = output.split(separator: " ")
            XCTAssertGreaterThan(words.count, 5, output)
            let pid = words[0]
            XCTAssertEqual(check == "session" ? words[4] : words[3], pid, "\(check): \(output)")
        }
        let (output, _) = try await run(script)
        let words = output.split(separator: " ")
        XCTAssertEqual(words[3], "\(getpgrp())", "inherited process group")
    }

    func testCloseDescriptorsFrom() async throws {
        let extra = open("/dev/null", O_RDONLY) // inherited: not close-on-exec
        defer { close(extra) }
        let (_, inherited) = try await run("test -e /proc/self/fd/\(extra)")
        XCTAssertEqual(inherited, 0)
        let (_, closed) = try await run("test -e /proc/self/fd/\(extra)", closeFrom: 3)
        XCTAssertEqual(closed, 1)
        let (_, explicitlyClosed) = try await run("test -e /proc/self/fd/\(extra)", extra: [.close(extra)])
        XCTAssertEqual(explicitlyClosed, 1)
    }

    func testMissingExecutableReportsErrno() {
        XCTAssertThrowsError(try reaper.spawn(path: "/nonexistent/binary")) { error in
            XCTAssertEqual((error as? SpawnError)?.errno, ENOENT)
            XCTAssertTrue("\(error)".contains("/nonexistent/binary"))
        }
    }

    func testNulByteRefused() {
        XCTAssertThrowsError(try reaper.spawn(path: "/bin/true", arguments: ["a\u{0}b"])) { error in
            XCTAssertEqual((error as? SpawnError)?.errno, 0)
        }
    }
}
