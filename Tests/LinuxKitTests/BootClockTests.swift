import LinuxKit
import XCTest

final class BootClockTests: XCTestCase {
    func testTextKeepsThreeDecimals() {
        XCTAssertEqual(BootClock.text(1234.5678), "1234.568")
        XCTAssertEqual(BootClock.text(0.5), "0.500")
        XCTAssertEqual(BootClock.text(2.007), "2.007")
        XCTAssertEqual(BootClock.text(0), "0.000")
    }

    func testIsTheBootClock() {
        // CLOCK_BOOTTIME is at least CLOCK_MONOTONIC (it also counts suspend).
        var monotonic = timespec()
        clock_gettime(CLOCK_MONOTONIC, &monotonic)
        let before = Double(monotonic.tv_sec) * 1000 + Double(monotonic.tv_nsec) / 1_000_000
        XCTAssertGreaterThanOrEqual(BootClock.milliseconds(), before)
    }
}
