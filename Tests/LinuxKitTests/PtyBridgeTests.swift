import Foundation
import Glibc
import XCTest
@testable import LinuxKit

final class PtyBridgeTests: XCTestCase {
    var reaper: Reaper!

    override func setUpWithError() throws {
        reaper = try Reaper(mode: .registeredOnly)
    }

    override func tearDown() {
        reaper.shutdown()
    }

    private func startConsole(_ path: String) throws -> (DebugConsole, ConsoleListener, ConsoleMailbox<PtyBridge.Report>) {
        let reports = ConsoleMailbox<PtyBridge.Report>()
        let console = try XCTUnwrap(DebugConsole(
            reaper: reaper, logger: ConsoleTestSupport.logger, onSessionEnd: { reports.put($0) }))
        let listener = try ConsoleListener.unix(path: path)
        console.serve(listener: listener)
        return (console, listener, reports)
    }

    func testEchoOkThenDisconnectKillsAndReapsTheShell() throws {
        let path = ConsoleTestSupport.socketPath("pty")
        defer { unlink(path) }
        let (console, listener, reports) = try startConsole(path)
        defer { console.stop(listener: listener) }

        let client = try UnixSocket.connect(path: path)
        ConsoleTestSupport.send(client, "echo pid:$$\necho ok\n")
        let (text, eof) = ConsoleTestSupport.read(client) { text in
            ConsoleTestSupport.lines(text).contains("ok")
        }
        let lines = ConsoleTestSupport.lines(text)
        XCTAssertFalse(eof, "connection closed early: \(text.debugDescription)")
        XCTAssertTrue(lines.contains("ok"), "no 'ok' line in \(text.debugDescription)")
        let pidLine = try XCTUnwrap(lines.first { $0.hasPrefix("pid:") }, "no pid line in \(text.debugDescription)")
        let shellPid = try XCTUnwrap(pid_t(pidLine.dropFirst(4)))

        close(client)
        let report = try XCTUnwrap(reports.take(), "the session did not end after the client disconnected")
        XCTAssertEqual(report.pid, shellPid)
        XCTAssertTrue(report.connectionClosedFirst)
        XCTAssertEqual(report.status, 128 + SIGKILL, "the shell should have been SIGKILLed")
        XCTAssertTrue(ConsoleTestSupport.processGone(shellPid), "shell \(shellPid) still exists (zombie?)")
    }

    func testShellExitClosesTheConnection() throws {
        let path = ConsoleTestSupport.socketPath("exit")
        defer { unlink(path) }
        let (console, listener, reports) = try startConsole(path)
        defer { console.stop(listener: listener) }

        let client = try UnixSocket.connect(path: path)
        defer { close(client) }
        ConsoleTestSupport.send(client, "echo bye; exit 3\n")
        let (text, eof) = ConsoleTestSupport.read(client) { _ in false }
        XCTAssertTrue(eof, "the connection stayed open after the shell exited")
        XCTAssertTrue(ConsoleTestSupport.lines(text).contains("bye"), "last output lost: \(text.debugDescription)")
        let report = try XCTUnwrap(reports.take())
        XCTAssertFalse(report.connectionClosedFirst)
        XCTAssertEqual(report.status, 3)
        XCTAssertTrue(ConsoleTestSupport.processGone(report.pid))
    }

    func testTwoConnectionsGetTheirOwnShells() throws {
        let path = ConsoleTestSupport.socketPath("two")
        defer { unlink(path) }
        let (console, listener, reports) = try startConsole(path)
        defer { console.stop(listener: listener) }

        let first = try UnixSocket.connect(path: path)
        let second = try UnixSocket.connect(path: path)
        var pids: [String] = []
        for client in [first, second] {
            ConsoleTestSupport.send(client, "echo pid:$$\n")
            let (text, _) = ConsoleTestSupport.read(client) { text in
                ConsoleTestSupport.lines(text).contains { $0.hasPrefix("pid:") }
            }
            pids += ConsoleTestSupport.lines(text).filter { $0.hasPrefix("pid:") }
        }
        XCTAssertEqual(pids.count, 2)
        XCTAssertEqual(Set(pids).count, 2, "both connections reached the same shell: \(pids)")
        close(first)
        close(second)
        XCTAssertNotNil(reports.take())
        XCTAssertNotNil(reports.take())
    }

    func testStopEndsOpenSessions() throws {
        let path = ConsoleTestSupport.socketPath("stop")
        defer { unlink(path) }
        let (console, listener, reports) = try startConsole(path)
        let client = try UnixSocket.connect(path: path)
        defer { close(client) }
        ConsoleTestSupport.send(client, "echo ready\n")
        _ = ConsoleTestSupport.read(client) { ConsoleTestSupport.lines($0).contains("ready") }
        console.stop(listener: listener)
        let report = try XCTUnwrap(reports.take(), "stop() left the session running")
        XCTAssertTrue(ConsoleTestSupport.processGone(report.pid))
    }

    func testNoShellIsReportedNotCrashed() {
        XCTAssertNil(DebugConsole(candidates: ["/nonexistent/bash", "/nonexistent/sh"], reaper: reaper,
                                  logger: ConsoleTestSupport.logger))
        XCTAssertTrue(ConsoleShell.missingMessage(candidates: ["/x/bash"]).contains("/x/bash"))
    }

    func testShellOnConsoleDevice() throws {
        // A pty slave stands in for /dev/console (vport 0).
        let pty = try PtyPair.open()
        defer { close(pty.master) }
        let slavePath = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/\(pty.slave)")
        let console = try XCTUnwrap(DebugConsole(reaper: reaper, logger: ConsoleTestSupport.logger))
        let statuses = ConsoleMailbox<Int32>()
        let thread = Thread {
            statuses.put((try? console.runOnConsoleBlocking(path: slavePath)) ?? -1)
        }
        thread.start()
        ConsoleTestSupport.send(pty.master, "echo ok\n")
        let (text, _) = ConsoleTestSupport.read(pty.master) { ConsoleTestSupport.lines($0).contains("ok") }
        XCTAssertTrue(ConsoleTestSupport.lines(text).contains("ok"), "no 'ok' in \(text.debugDescription)")
        ConsoleTestSupport.send(pty.master, "exit 4\n")
        XCTAssertEqual(statuses.take(), 4)
        close(pty.slave)
    }
}
