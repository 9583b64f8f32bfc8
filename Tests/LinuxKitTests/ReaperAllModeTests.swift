import Foundation
import Glibc
import XCTest
@testable import LinuxKit

/// The agent's mode: reaps everything, including orphans re-parented to the subreaper.
/// XCTest runs tests one at a time, so no Foundation.Process child exists meanwhile.
final class ReaperAllModeTests: XCTestCase {
    func testOrphanedGrandchildIsReaped() async throws {
        let reaper = try Reaper(mode: .all)
        defer { reaper.shutdown() }
        let pipe = try TestPipe()
        // The child starts a grandchild, prints its pid and exits: the grandchild is
        // re-parented to us (subreaper) and reaped as an unregistered pid once killed.
        let pid = try reaper.spawn(
            path: "/bin/sh",
            arguments: ["sh", "-c", "sleep 1000 </dev/null >/dev/null & echo $!; exit 0"],
            fileActions: [.dup2(from: pipe.write, to: 1)])
        close(pipe.write)
        let output = pipe.readAll()
        close(pipe.read)
        let status = try await withDeadline(10, "parent") { try await reaper.wait(pid) }
        XCTAssertEqual(status, 0)
        let grandchild = try XCTUnwrap(pid_t(output.trimmingCharacters(in: .whitespacesAndNewlines)), output)
        let stat = try String(contentsOfFile: "/proc/\(grandchild)/stat", encoding: .utf8)
        let fields = stat[stat.lastIndex(of: ")")!...].split(separator: " ")
        XCTAssertEqual(fields[2], "\(getpid())", "grandchild should be re-parented to the subreaper")
        XCTAssertEqual(kill(grandchild, SIGKILL), 0)
        XCTAssertTrue(waitUntilGone(grandchild), "orphan \(grandchild) was not reaped")
        XCTAssertEqual(reaper.status(grandchild), .unknown)
    }

    func testOnlyOneAllModeReaper() throws {
        let first = try Reaper(mode: .all)
        defer { first.shutdown() }
        XCTAssertThrowsError(try Reaper(mode: .all)) { error in
            XCTAssertEqual((error as? SyscallError)?.errno, EBUSY)
        }
    }

    func testRegisteredChildInAllMode() async throws {
        let reaper = try Reaper(mode: .all)
        defer { reaper.shutdown() }
        for _ in 0..<50 {
            let pid = try reaper.spawn(path: "/bin/sh", arguments: ["sh", "-c", "exit 9"])
            let status = try await withDeadline(10, "child") { try await reaper.wait(pid) }
            XCTAssertEqual(status, 9)
        }
    }
}
