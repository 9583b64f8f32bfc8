import XCTest
@testable import LinuxKit

/// Frames and prefaces as an HTTP/2 client writes them, for the splitter and the bridge.
enum HTTP2Bytes {
    static let preface = HTTP2SessionSplitter.preface

    /// One frame on stream 0 (the splitter reads only the length).
    static func frame(type: UInt8 = 0, _ payload: [UInt8]) -> [UInt8] {
        let n = payload.count
        return [UInt8(n >> 16 & 0xff), UInt8(n >> 8 & 0xff), UInt8(n & 0xff), type, 0, 0, 0, 0, 0] + payload
    }

    /// What one short client connection sends: the preface and a frame carrying `tag`.
    static func connection(_ tag: String) -> [UInt8] {
        preface + frame(type: 4, []) + frame(Array(tag.utf8))
    }
}

final class HTTP2SessionSplitterTests: XCTestCase {
    /// Feeds `input` in chunks of `chunk` bytes and merges adjacent events of one kind.
    private func split(_ input: [UInt8], chunk: Int, splitter: inout HTTP2SessionSplitter) -> [HTTP2SessionSplitter.Event] {
        var events: [HTTP2SessionSplitter.Event] = []
        var start = 0
        while start < input.count {
            let end = min(input.count, start + chunk)
            for event in splitter.feed(Array(input[start..<end])) {
                switch (events.last, event) {
                case let (.bytes(a)?, .bytes(b)): events[events.count - 1] = .bytes(a + b)
                case let (.discarded(a)?, .discarded(b)): events[events.count - 1] = .discarded(a + b)
                default: events.append(event)
                }
            }
            start = end
        }
        return events
    }

    func testBackToBackConnectionsWithoutAHangupAreTwoSessions() {
        let one = HTTP2Bytes.connection("one")
        let two = HTTP2Bytes.connection("two")
        for chunk in [1, 5, 9, 24, 1000] {
            var splitter = HTTP2SessionSplitter()
            XCTAssertEqual(
                split(one + two, chunk: chunk, splitter: &splitter),
                [.newSession, .bytes(one), .newSession, .bytes(two)], "chunk \(chunk)")
        }
    }

    func testBytesBeforeTheFirstPrefaceAreDiscarded() {
        let stale = Array("tail of a dead connection PRI * HT".utf8)
        let one = HTTP2Bytes.connection("one")
        for chunk in [1, 7, 1000] {
            var splitter = HTTP2SessionSplitter()
            XCTAssertEqual(
                split(stale + one, chunk: chunk, splitter: &splitter),
                [.discarded(stale.count), .newSession, .bytes(one)], "chunk \(chunk)")
        }
    }

    func testAPrefaceInsideAFramePayloadIsData() {
        let data = HTTP2Bytes.frame(HTTP2Bytes.preface + HTTP2Bytes.preface)
        let stream = HTTP2Bytes.preface + data
        var splitter = HTTP2SessionSplitter()
        XCTAssertEqual(split(stream, chunk: 3, splitter: &splitter), [.newSession, .bytes(stream)])
    }

    func testAfterTheServerLeftTheHostsFramesAreDroppedUntilItReconnects() {
        var splitter = HTTP2SessionSplitter()
        let one = HTTP2Bytes.connection("one")
        XCTAssertEqual(splitter.feed(one), [.newSession, .bytes(one)])
        splitter.sessionEnded()
        let late = HTTP2Bytes.frame(type: 7, Array("goaway".utf8))
        let two = HTTP2Bytes.connection("two")
        XCTAssertEqual(splitter.feed(late + two), [.discarded(late.count), .newSession, .bytes(two)])
    }

    func testAHostSeenGoneMidFrameResyncsOnTheNextPreface() {
        var splitter = HTTP2SessionSplitter()
        let one = HTTP2Bytes.connection("one")
        // A frame announcing 100 bytes, cut short by the host going away.
        let cut = HTTP2Bytes.frame([UInt8](repeating: 0x41, count: 100)).prefix(30)
        XCTAssertEqual(splitter.feed(one + cut), [.newSession, .bytes(one + cut)])
        splitter.reset()
        let two = HTTP2Bytes.connection("two")
        XCTAssertEqual(splitter.feed(two), [.newSession, .bytes(two)])
    }

    func testAFrameLargerThanTheServerAcceptsMeansLostSync() {
        var splitter = HTTP2SessionSplitter(maxFrameSize: 16384)
        let one = HTTP2Bytes.connection("one")
        // The new connection's preface landed inside what the splitter took for a frame
        // header: the announced length is absurd, so it scans for the preface again.
        let garbage: [UInt8] = [0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 1, 2]
        let two = HTTP2Bytes.connection("two")
        XCTAssertEqual(
            split(one + garbage + two, chunk: 1000, splitter: &splitter),
            [.newSession, .bytes(one), .discarded(garbage.count), .newSession, .bytes(two)])
    }
}

/// Frames as a ttrpc client writes them, for the splitter.
enum TTRPCBytes {
    static func frame(stream: UInt32, type: UInt8 = 1, _ payload: [UInt8]) -> [UInt8] {
        let n = UInt32(payload.count)
        let be = { (v: UInt32) in [UInt8(v >> 24 & 0xff), UInt8(v >> 16 & 0xff), UInt8(v >> 8 & 0xff), UInt8(v & 0xff)] }
        return be(n) + be(stream) + [type, 0] + payload
    }

    /// What one short ttrpc client sends: requests on streams 1, 3, ... carrying `tag`.
    static func connection(_ tag: String, calls: Int = 2) -> [UInt8] {
        (0..<calls).flatMap { frame(stream: UInt32(2 * $0 + 1), Array(tag.utf8)) }
    }
}

final class SerialSessionSplitterTTRPCTests: XCTestCase {
    private func split(_ input: [UInt8], chunk: Int, splitter: inout SerialSessionSplitter) -> [SerialSessionSplitter.Event] {
        var events: [SerialSessionSplitter.Event] = []
        var start = 0
        while start < input.count {
            let end = min(input.count, start + chunk)
            for event in splitter.feed(Array(input[start..<end])) {
                switch (events.last, event) {
                case let (.bytes(a)?, .bytes(b)): events[events.count - 1] = .bytes(a + b)
                case let (.discarded(a)?, .discarded(b)): events[events.count - 1] = .discarded(a + b)
                default: events.append(event)
                }
            }
            start = end
        }
        return events
    }

    func testTTRPCClientsWithoutAHangupAreSessionsByTheirRestartedStreamIDs() {
        let one = TTRPCBytes.connection("one", calls: 3)
        let two = TTRPCBytes.connection("two")
        for chunk in [1, 3, 10, 11, 1000] {
            var splitter = SerialSessionSplitter()
            XCTAssertEqual(
                split(one + two, chunk: chunk, splitter: &splitter),
                [.newSession, .bytes(one), .newSession, .bytes(two)], "chunk \(chunk)")
            XCTAssertEqual(splitter.currentProtocol, .ttrpc)
        }
    }

    func testBytesBeforeTheFirstTTRPCRequestAreDiscarded() {
        let stale: [UInt8] = [0xde, 0xad, 0, 0, 0, 0, 1, 1] + Array("tail".utf8)
        let one = TTRPCBytes.connection("one")
        for chunk in [1, 7, 1000] {
            var splitter = SerialSessionSplitter()
            XCTAssertEqual(
                split(stale + one, chunk: chunk, splitter: &splitter),
                [.discarded(stale.count), .newSession, .bytes(one)], "chunk \(chunk)")
        }
    }

    func testEitherProtocolMayFollowTTRPC() {
        let ttrpc = TTRPCBytes.connection("one")
        let http2 = HTTP2Bytes.connection("two")
        var splitter = SerialSessionSplitter()
        XCTAssertEqual(
            split(ttrpc + http2, chunk: 5, splitter: &splitter), [.newSession, .bytes(ttrpc), .newSession, .bytes(http2)])
        XCTAssertEqual(splitter.currentProtocol, .http2)
        // After a hang-up, a ttrpc client follows the HTTP/2 one.
        splitter.reset()
        XCTAssertEqual(split(ttrpc, chunk: 4, splitter: &splitter), [.newSession, .bytes(ttrpc)])
    }

    func testATTRPCClientFollowingHTTP2WithoutAHangupIsANewSession() {
        let http2 = HTTP2Bytes.connection("one")
        let ttrpc = TTRPCBytes.connection("a ttrpc request naming its service")
        for chunk in [1, 4, 9, 10, 1000] {
            var splitter = SerialSessionSplitter()
            XCTAssertEqual(
                split(http2 + ttrpc, chunk: chunk, splitter: &splitter),
                [.newSession, .bytes(http2), .newSession, .bytes(ttrpc)], "chunk \(chunk)")
            XCTAssertEqual(splitter.currentProtocol, .ttrpc)
        }
        // A defined HTTP/2 frame type on stream 257 (a ttrpc length whose low byte is <= 9) stays
        // the HTTP/2 session's: only a hang-up could tell.
        let headers: [UInt8] = [0, 0, 0, 1, 0, 0, 0, 1, 1]
        var splitter = SerialSessionSplitter()
        XCTAssertEqual(split(http2 + headers, chunk: 1000, splitter: &splitter), [.newSession, .bytes(http2 + headers)])
    }

    func testAnUnframeableTTRPCHeaderMeansLostSync() {
        let one = TTRPCBytes.connection("one")
        // A host that left mid-frame: the next client's bytes complete a header announcing > 16 MiB.
        let garbage: [UInt8] = [0x41, 0x42, 0x43, 0x44, 0, 0, 0, 9, 1, 0, 7]
        let two = TTRPCBytes.connection("two")
        var splitter = SerialSessionSplitter()
        XCTAssertEqual(
            split(one + garbage + two, chunk: 1000, splitter: &splitter),
            [.newSession, .bytes(one), .discarded(garbage.count), .newSession, .bytes(two)])
    }

    func testAfterTheServerLeftTTRPCFramesAreDroppedUntilTheClientRestarts() {
        var splitter = SerialSessionSplitter()
        let one = TTRPCBytes.connection("one")
        XCTAssertEqual(splitter.feed(one), [.newSession, .bytes(one)])
        splitter.sessionEnded()
        let late = TTRPCBytes.frame(stream: 5, Array("late".utf8))
        let two = TTRPCBytes.connection("two")
        XCTAssertEqual(splitter.feed(late + two), [.discarded(late.count), .newSession, .bytes(two)])
    }
}
