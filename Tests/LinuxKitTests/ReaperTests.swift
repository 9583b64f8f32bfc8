import CLinuxShim
import Foundation
import Glibc
import XCTest
@testable import LinuxKit

final class ReaperTests: XCTestCase {
    var reaper: Reaper!

    override func setUpWithError() throws {
        reaper = try Reaper(mode: .registeredOnly)
    }

    override func tearDown() {
        reaper.shutdown()
    }

    func testExitCode() async throws {
        let pid = try reaper.spawn(path: "/bin/sh", arguments: ["sh", "-c", "exit 7"])
        let reaper = self.reaper!
        let status = try await withDeadline(10, "exit 7") { try await reaper.wait(pid) }
        XCTAssertEqual(status, 7)
        XCTAssertEqual(reaper.status(pid), .exited(7))
    }

    func testExitBySignalIs128PlusSignal() async throws {
        let reaper = self.reaper!
        let killed = try reaper.spawn(path: "/bin/sh", arguments: ["sh", "-c", "kill -KILL $$"])
        let terminated = try reaper.spawn(path: "/bin/sh", arguments: ["sh", "-c", "kill -TERM $$"])
        let killedStatus = try await withDeadline(10, "SIGKILL") { try await reaper.wait(killed) }
        let terminatedStatus = try await withDeadline(10, "SIGTERM") { try await reaper.wait(terminated) }
        XCTAssertEqual(killedStatus, 128 + SIGKILL)
        XCTAssertEqual(terminatedStatus, 128 + SIGTERM)
    }

    func testFastExitsAreNeverLost() async throws {
        let reaper = self.reaper!
        for _ in 0..<200 {
            let pid = try reaper.spawn(path: "/bin/true")
            let status = try await withDeadline(10, "true \(pid)") { try await reaper.wait(pid) }
            XCTAssertEqual(status, 0)
            reaper.forget(pid)
            XCTAssertEqual(reaper.status(pid), .unknown)
        }
    }

    func testManyConcurrentChildren() async throws {
        let reaper = self.reaper!
        var pids: [pid_t: Int32] = [:]
        for index in 0..<100 {
            let pid = try reaper.spawn(path: "/bin/sh", arguments: ["sh", "-c", "exit \(index % 50)"])
            pids[pid] = Int32(index % 50)
        }
        let expected = pids
        let results = try await withDeadline(30, "100 children") {
            try await withThrowingTaskGroup(of: (pid_t, Int32).self) { group in
                for pid in expected.keys {
                    group.addTask { (pid, try await reaper.wait(pid)) }
                }
                var results: [pid_t: Int32] = [:]
                for try await (pid, status) in group { results[pid] = status }
                return results
            }
        }
        XCTAssertEqual(results, pids)
        for pid in pids.keys {
            XCTAssertFalse(isZombie(pid), "pid \(pid) left a zombie")
        }
    }

    func testSeveralWaitersAndNonBlockingStatus() async throws {
        let reaper = self.reaper!
        let pipe = try TestPipe()
        // The child blocks reading stdin until the test closes the pipe's write end.
        let pid = try reaper.spawn(path: "/bin/sh", arguments: ["sh", "-c", "read line; exit 3"],
                                   fileActions: [.dup2(from: pipe.read, to: 0)])
        close(pipe.read)
        XCTAssertEqual(reaper.status(pid), .running)
        let waiters = Task {
            try await withThrowingTaskGroup(of: Int32.self) { group in
                for _ in 0..<5 { group.addTask { try await reaper.wait(pid) } }
                var statuses: [Int32] = []
                for try await status in group { statuses.append(status) }
                return statuses
            }
        }
        close(pipe.write)
        let statuses = try await withDeadline(10, "5 waiters") { try await waiters.value }
        XCTAssertEqual(statuses, [3, 3, 3, 3, 3])
        // A late waiter still gets the recorded status.
        let late = try await reaper.wait(pid)
        XCTAssertEqual(late, 3)
    }

    func testUnknownPid() async {
        do {
            _ = try await reaper.wait(getpid())
            XCTFail("waiting for an unregistered pid must fail")
        } catch {
            XCTAssertEqual(error as? ReaperError, .unknownPid(getpid()))
        }
        XCTAssertEqual(reaper.status(getpid()), .unknown)
    }

    func testSignalOnlyWhileRunning() async throws {
        let reaper = self.reaper!
        let pipe = try TestPipe()
        let pid = try reaper.spawn(path: "/bin/sh", arguments: ["sh", "-c", "read line"],
                                   fileActions: [.dup2(from: pipe.read, to: 0)])
        close(pipe.read)
        try reaper.signal(pid, SIGKILL)
        let status = try await withDeadline(10, "killed child") { try await reaper.wait(pid) }
        close(pipe.write)
        XCTAssertEqual(status, 128 + SIGKILL)
        XCTAssertThrowsError(try reaper.signal(pid, SIGKILL)) { error in
            XCTAssertEqual(error as? ReaperError, .notRunning(pid))
        }
    }

    func testRegisterThroughClosure() async throws {
        let reaper = self.reaper!
        // Stands in for a C shim's fork/exec: any code that returns one child's pid.
        let pid = try reaper.spawn { () throws -> pid_t in
            var child: pid_t = 0
            let argv = CStringArray(["sh", "-c", "exit 5"])
            defer { argv.free() }
            let rc = core_spawn(&child, "/bin/sh", argv.pointers, nil, nil, 0, -1, nil, 0, 0)
            if rc < 0 { throw SpawnError(path: "/bin/sh", errno: -rc) }
            return child
        }
        let status = try await withDeadline(10, "closure child") { try await reaper.wait(pid) }
        XCTAssertEqual(status, 5)
    }

    func testExitStatusDecoding() {
        XCTAssertEqual(Reaper.exitStatus(fromWaitStatus: 0), 0)
        XCTAssertEqual(Reaper.exitStatus(fromWaitStatus: 42 << 8), 42)
        XCTAssertEqual(Reaper.exitStatus(fromWaitStatus: 9), 137)
        XCTAssertEqual(Reaper.exitStatus(fromWaitStatus: 15 | 0x80), 143) // core dumped flag
    }

    private func isZombie(_ pid: pid_t) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return false }
        return stat[close...].dropFirst(2).first == "Z"
    }
}
