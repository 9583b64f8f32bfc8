import Foundation
import Glibc
import XCTest
@testable import LinuxKit

final class ConsoleClientTests: XCTestCase {
    var reaper: Reaper!

    override func setUpWithError() throws {
        reaper = try Reaper(mode: .registeredOnly)
    }

    override func tearDown() {
        reaper.shutdown()
    }

    func testParsesTargets() throws {
        XCTAssertEqual(try ConsoleClient.Target.parse("vsock://3:1026"), .vsock(cid: 3, port: 1026))
        XCTAssertEqual(try ConsoleClient.Target.parse("unix:///run/c.sock"), .unix(path: "/run/c.sock"))
        XCTAssertEqual(try ConsoleClient.Target.parse("unix://@console"), .unix(path: "@console"))
        XCTAssertEqual(try ConsoleClient.Target.parse("hvsock:///run/vc/fc/kata.hvsock:1026"),
                       .hybrid(socketPath: "/run/vc/fc/kata.hvsock", port: 1026))
        for bad in ["", "vsock://-1:1026", "vsock://3", "unix://relative", "hvsock:///x.sock", "hvsock://rel:1", "tcp://x:1"] {
            XCTAssertThrowsError(try ConsoleClient.Target.parse(bad), bad)
        }
    }

    /// Piped stdin (not a tty): the command runs, `exit` ends the shell, the client sees the
    /// remote close and returns; its output holds the command's result. Through a fake VMM's
    /// hybrid vsock socket relaying to the debug console.
    func testNonInteractiveSessionThroughHybridVsock() throws {
        let consolePath = ConsoleTestSupport.socketPath("dbg")
        let vmmPath = ConsoleTestSupport.socketPath("hv")
        defer { unlink(consolePath); unlink(vmmPath) }
        let console = try XCTUnwrap(DebugConsole(reaper: reaper, logger: ConsoleTestSupport.logger))
        let listener = try ConsoleListener.unix(path: consolePath)
        console.serve(listener: listener)
        defer { console.stop(listener: listener) }
        let vmm = try FakeVMM(path: vmmPath, reply: "OK 1073741824", relayTo: consolePath)
        defer { vmm.stop() }

        var input: [Int32] = [-1, -1]
        var output: [Int32] = [-1, -1]
        XCTAssertEqual(pipe(&input), 0)
        XCTAssertEqual(pipe(&output), 0)
        defer { close(output[0]) }
        ConsoleTestSupport.send(input[1], "echo o''k-$((6*7))\nexit\n")
        close(input[1])

        let connection = try ConsoleClient.connect(try ConsoleClient.Target.parse("hvsock://\(vmmPath):1026"))
        let outcome = ConsoleClient.bridge(
            connection: connection, input: input[0], output: output[1], deadline: ConsoleClock.now() + 60)
        close(connection)
        close(input[0])
        close(output[1])
        XCTAssertEqual(outcome, .sideBClosed, "the client should end when the remote shell exits")
        let (text, _) = ConsoleTestSupport.read(output[0]) { _ in false }
        XCTAssertTrue(ConsoleTestSupport.lines(text).contains("ok-42"), "no ok-42 in \(text.debugDescription)")
        XCTAssertEqual(vmm.handshakes.take(), "CONNECT 1026")
    }
}
