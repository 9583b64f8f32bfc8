import Glibc
import XCTest
@testable import LinuxKit

final class WholeFileTests: XCTestCase {
    func testProcfsFileOfReportedSizeZeroIsReadToTheEnd() throws {
        var status = stat()
        XCTAssertEqual(stat("/proc/self/status", &status), 0)
        XCTAssertEqual(status.st_size, 0)
        let text = try WholeFile.text("/proc/self/status")
        XCTAssertTrue(text.hasPrefix("Name:"), text)
        XCTAssertTrue(text.contains("\nPid:"), text)
    }

    func testLargerThanOneChunkAndTheLimit() throws {
        let path = NSTemporaryDirectory() + "wholefile-\(getpid()).bin"
        defer { unlink(path) }
        let content = (0..<40_000).map { UInt8(truncatingIfNeeded: $0) }
        XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: Data(content)))
        XCTAssertEqual(try WholeFile.bytes(path), content)
        XCTAssertEqual(try WholeFile.bytes(path, limit: 20_000), Array(content[0..<20_000]))
    }

    func testMissingFileNamesTheCallThePathAndTheErrno() {
        XCTAssertThrowsError(try WholeFile.text("/nonexistent/kata-wholefile")) { error in
            let failure = error as? SyscallError
            XCTAssertEqual(failure?.operation, "open")
            XCTAssertEqual(failure?.target, "/nonexistent/kata-wholefile")
            XCTAssertEqual(failure?.errno, ENOENT)
        }
    }

    func testASCIIBlankIsWhatIsWhitespaceAcceptsOfASCII() {
        for byte in UInt8(0)...UInt8(127) {
            XCTAssertEqual(byte.isASCIIBlank, Character(Unicode.Scalar(byte)).isWhitespace, "byte \(byte)")
        }
    }
}
