import Glibc
import LinuxKit
import XCTest

final class SignalDispositionsTests: XCTestCase {
    func testMasksFromAStatusFile() {
        // SIGHUP (1) blocked, SIGPIPE (13) ignored, SIGTERM (15) and SIGRTMAX (64) caught.
        let status = """
            Name:\tsh
            SigQ:\t0/7823
            SigPnd:\t0000000000000000
            ShdPnd:\t0000000000000000
            SigBlk:\t0000000000000001
            SigIgn:\t0000000000001000
            SigCgt:\t8000000000004000
            CapInh:\t0000000000000000
            """
        let dispositions = SignalDispositions(status: status)
        XCTAssertEqual(dispositions, SignalDispositions(blocked: 0x1, ignored: 0x1000, caught: 0x8000_0000_0000_4000))
        XCTAssertTrue(dispositions.handles(SIGHUP))
        XCTAssertTrue(dispositions.handles(SIGPIPE))
        XCTAssertTrue(dispositions.handles(SIGTERM))
        XCTAssertTrue(dispositions.handles(64))
        XCTAssertFalse(dispositions.handles(SIGINT))
        XCTAssertFalse(dispositions.handles(SIGKILL))
    }

    func testOutOfRangeSignalsAndMalformedLinesAreNotHandled() {
        let dispositions = SignalDispositions(status: "SigCgt:\tffffffffffffffff\nSigIgn:\tnot-hex\nSigBlk")
        XCTAssertEqual(dispositions.ignored, 0)
        XCTAssertEqual(dispositions.blocked, 0)
        XCTAssertFalse(dispositions.handles(0))
        XCTAssertFalse(dispositions.handles(65))
        XCTAssertFalse(dispositions.handles(-1))
        XCTAssertTrue(dispositions.handles(SIGTERM))
    }

    func testThisProcessCatchingASignalShows() throws {
        let previous = signal(SIGUSR2) { _ in }
        defer { signal(SIGUSR2, previous) }
        let dispositions = try XCTUnwrap(SignalDispositions.of(pid: getpid()))
        XCTAssertTrue(dispositions.handles(SIGUSR2))
        XCTAssertNil(SignalDispositions.of(pid: Int32.max))
    }
}
