import Foundation
import Glibc
import XCTest
@testable import LinuxKit

final class VsockLogSinkTests: XCTestCase {
    func testLinesBeforeAndBetweenReadersAreDelivered() throws {
        let path = ConsoleTestSupport.socketPath("log")
        defer { unlink(path) }
        let sink = try VsockLogSink(listener: .unix(path: path))
        defer { sink.stop() }
        sink.write(#"{"msg":"announce"}"#)
        sink.write(#"{"msg":"second"}"#)

        let first = try UnixSocket.connect(path: path)
        let early = ConsoleTestSupport.read(first) { $0.hasSuffix("\"second\"}\n") }
        XCTAssertEqual(early.text, "{\"msg\":\"announce\"}\n{\"msg\":\"second\"}\n")
        sink.write(#"{"msg":"live"}"#)
        let live = ConsoleTestSupport.read(first) { $0.hasSuffix("\n") }
        XCTAssertEqual(live.text, "{\"msg\":\"live\"}\n")
        close(first)

        // Written while nobody reads: kept for the next reader.
        sink.write(#"{"msg":"while away"}"#)
        let second = try UnixSocket.connect(path: path)
        defer { close(second) }
        let later = ConsoleTestSupport.read(second) { $0.contains("while away") }
        XCTAssertTrue(later.text.hasSuffix("{\"msg\":\"while away\"}\n"), later.text)
    }

    func testOverflowDropsOldestWholeLines() throws {
        let path = ConsoleTestSupport.socketPath("logfull")
        defer { unlink(path) }
        let sink = try VsockLogSink(listener: .unix(path: path), bufferLimit: 4096)
        defer { sink.stop() }
        for index in 0..<1000 { sink.write("line \(index)") }
        let reader = try UnixSocket.connect(path: path)
        defer { close(reader) }
        let (text, _) = ConsoleTestSupport.read(reader) { $0.hasSuffix("line 999\n") }
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).dropLast()
        XCTAssertLessThanOrEqual(text.utf8.count, 4096)
        XCTAssertEqual(lines.last, "line 999")
        XCTAssertFalse(lines.contains("line 0"), "the oldest lines should have been dropped")
        XCTAssertTrue(lines.allSatisfy { $0.hasPrefix("line ") }, "a line was cut in half: \(lines.prefix(3))")
    }
}
