/// The splitter's name from when the serial port carried HTTP/2 only.
public typealias HTTP2SessionSplitter = SerialSessionSplitter

/// Finds where each host connection's session begins in the one byte stream a virtio-serial
/// port carries, for either protocol the agent serves there: gRPC (HTTP/2) or ttrpc.
///
/// The port has no connection boundaries: when a host disconnects and another connects, the
/// guest learns it only from an out-of-band state (POLLHUP while no host is connected), which
/// it misses entirely when the close and the new connect land between two polls, and the new
/// connection's bytes follow the old one's in the same stream. A well-formed connection ends on
/// a frame boundary, so the splitter follows the frames and starts a new session where, at a
/// boundary, the next bytes are
/// - an HTTP/2 client connection preface (every HTTP/2 client opens with it), or
/// - in a ttrpc session, a request whose stream id does not increase (a new ttrpc client
///   starts again at stream 1; the server would refuse a reused id anyway), or
/// - in an HTTP/2 session, a ttrpc request header on stream 1 whose HTTP/2 reading is a frame
///   of an undefined type (see `isTTRPCStartInHTTP2`).
/// After the host was seen gone (`reset()`), or when a frame header cannot be one the server
/// accepts, the splitter is out of sync and scans for a session start, discarding what
/// precedes it: a preface, or a ttrpc request header on stream 1 (`00 xx xx xx 00 00 00 01 01`).
public struct SerialSessionSplitter: Sendable {
    /// What `feed` found, in stream order.
    public enum Event: Sendable, Equatable {
        /// A new session starts here; the bytes that follow (its preface first) belong to it.
        case newSession
        /// Bytes of the current session, for its server connection.
        case bytes([UInt8])
        /// This many bytes belonged to no live session (a dead connection's tail, or frames
        /// sent after the server ended the session) and were dropped.
        case discarded(Int)
    }

    /// The protocols a session may speak.
    public enum WireProtocol: Sendable, Equatable {
        case http2, ttrpc
    }

    /// The client connection preface (RFC 9113 section 3.4).
    public static let preface = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)
    static let frameHeaderSize = 9
    static let ttrpcHeaderSize = 10
    /// A ttrpc header announcing this much or more is not ttrpc (see the agent's ttrpc codec).
    static let ttrpcUnframeable = 1 << 24

    /// The largest frame payload the server accepts (its SETTINGS_MAX_FRAME_SIZE); a header
    /// announcing more means the splitter lost the frame boundaries.
    public let maxFrameSize: Int
    /// Bytes that cannot be classified yet (a partial frame header or preface).
    private var held: [UInt8] = []
    /// Frame bytes (header included) still to pass before the next frame boundary.
    private var frameLeft = 0
    /// nil: scanning for a session start. Otherwise at or inside a frame of this protocol.
    private var synced: WireProtocol?
    /// True while a session's server is there to take the bytes.
    private var forwarding = false
    /// The last ttrpc request stream id of the current session (0: none yet).
    private var lastRequestID: UInt32 = 0
    /// A ttrpc session start was found by scanning; the request at the boundary opens it.
    private var ttrpcStartPending = false

    public init(maxFrameSize: Int = (1 << 24) - 1) {
        self.maxFrameSize = maxFrameSize
    }

    /// The protocol of the session the last bytes belonged to (nil while scanning).
    public var currentProtocol: WireProtocol? { synced }

    /// The host was seen gone: whatever comes next starts with a new connection's first bytes.
    public mutating func reset() {
        held = []
        frameLeft = 0
        synced = nil
        forwarding = false
        ttrpcStartPending = false
    }

    /// The session's server went away while the host stays connected: keep following the
    /// host's frames, dropping them, until it opens a new session.
    public mutating func sessionEnded() {
        forwarding = false
    }

    /// Classifies the next bytes read from the port.
    public mutating func feed(_ input: [UInt8]) -> [Event] {
        var data = held
        data.append(contentsOf: input)
        held = []
        var events: [Event] = []
        var kept: [UInt8] = []
        var dropped = 0
        func flush() {
            if !kept.isEmpty { events.append(.bytes(kept)); kept = [] }
            if dropped > 0 { events.append(.discarded(dropped)); dropped = 0 }
        }
        func pass(_ range: Range<Int>) {
            if forwarding {
                if dropped > 0 { flush() }
                kept.append(contentsOf: data[range])
            } else {
                if !kept.isEmpty { flush() }
                dropped += range.count
            }
        }
        func startSession(_ kind: WireProtocol) {
            flush()
            events.append(.newSession)
            forwarding = true
            synced = kind
            lastRequestID = 0
            ttrpcStartPending = false
        }
        let preface = Self.preface
        var index = 0
        scan: while index < data.count {
            guard let kind = synced else {
                let http2 = Self.find(preface, in: data, from: index)
                let ttrpc = Self.findTTRPCStart(in: data, from: index)
                if let start = [http2, ttrpc].compactMap({ $0 }).min() {
                    pass(index..<start)
                    index = start
                    frameLeft = 0
                    if start == http2 {
                        synced = .http2
                    } else {
                        synced = .ttrpc
                        ttrpcStartPending = true
                    }
                    continue
                }
                // Keep a tail that may be the start of a session split across reads.
                let tail = max(
                    Self.prefixOverlap(preface, endOf: data, from: index), Self.ttrpcStartOverlap(endOf: data, from: index))
                pass(index..<(data.count - tail))
                held = Array(data[(data.count - tail)...])
                break
            }
            if frameLeft > 0 {
                let n = min(frameLeft, data.count - index)
                pass(index..<(index + n))
                index += n
                frameLeft -= n
                continue
            }
            // At a frame boundary: a preface here starts a new HTTP/2 session.
            let available = data.count - index
            let compared = min(available, preface.count)
            if data[index..<(index + compared)].elementsEqual(preface[0..<compared]) {
                if available < preface.count {
                    held = Array(data[index...])
                    break
                }
                startSession(.http2)
                kept.append(contentsOf: preface)
                index += preface.count
                continue
            }
            switch kind {
            case .http2:
                if available < Self.frameHeaderSize {
                    held = Array(data[index...])
                    break scan
                }
                if Self.isTTRPCStartInHTTP2(data, at: index) {
                    synced = .ttrpc
                    ttrpcStartPending = true
                    continue
                }
                let length = Int(data[index]) << 16 | Int(data[index + 1]) << 8 | Int(data[index + 2])
                if length > maxFrameSize {
                    synced = nil
                    forwarding = false
                    continue
                }
                frameLeft = Self.frameHeaderSize + length
            case .ttrpc:
                if available < Self.ttrpcHeaderSize {
                    held = Array(data[index...])
                    break scan
                }
                let length = Self.u32(data, index)
                if length >= UInt32(Self.ttrpcUnframeable) {
                    synced = nil
                    forwarding = false
                    ttrpcStartPending = false
                    continue
                }
                if data[index + 8] == 1 {
                    let id = Self.u32(data, index + 4)
                    if ttrpcStartPending || id <= lastRequestID { startSession(.ttrpc) }
                    lastRequestID = id
                }
                frameLeft = Self.ttrpcHeaderSize + Int(length)
            }
        }
        flush()
        return events
    }

    static func u32(_ data: [UInt8], _ at: Int) -> UInt32 {
        UInt32(data[at]) << 24 | UInt32(data[at + 1]) << 16 | UInt32(data[at + 2]) << 8 | UInt32(data[at + 3])
    }

    /// True when the `count` bytes at `start` agree with a ttrpc request header on stream 1
    /// (a new ttrpc client's first frame) as far as they go.
    static func mayStartTTRPC(_ data: [UInt8], at start: Int, count: Int) -> Bool {
        let expected: [Int: UInt8] = [0: 0, 4: 0, 5: 0, 6: 0, 7: 1, 8: 1]
        for offset in 0..<min(count, 9) {
            if let byte = expected[offset], data[start + offset] != byte { return false }
        }
        return true
    }

    /// True when the HTTP/2 frame header at `start` is a ttrpc client's first request header.
    /// Read as HTTP/2, that header is a frame on stream 257 with no flags whose type is the low
    /// byte of the ttrpc length. When that byte is a type RFC 9113 does not define (above 9, as
    /// for every request under 256 bytes that names a service and a method), no gRPC client
    /// sent it, so at a frame boundary it is the next host's ttrpc connection; otherwise only
    /// the host's hang-up tells.
    static func isTTRPCStartInHTTP2(_ data: [UInt8], at start: Int) -> Bool {
        guard data.count - start >= frameHeaderSize, mayStartTTRPC(data, at: start, count: frameHeaderSize) else { return false }
        return data[start + 3] > 0x09
    }

    /// The first index at or after `from` where a ttrpc request header on stream 1 starts
    /// (its whole 10-byte header present).
    static func findTTRPCStart(in data: [UInt8], from: Int) -> Int? {
        var start = from
        while start + ttrpcHeaderSize <= data.count {
            if data[start] == 0, mayStartTTRPC(data, at: start, count: 9) { return start }
            start += 1
        }
        return nil
    }

    /// The length of the longest suffix of `data[from...]` shorter than a ttrpc header that
    /// may begin one.
    static func ttrpcStartOverlap(endOf data: [UInt8], from: Int) -> Int {
        var length = min(ttrpcHeaderSize - 1, data.count - from)
        while length > 0 {
            if mayStartTTRPC(data, at: data.count - length, count: length) { return length }
            length -= 1
        }
        return 0
    }

    /// The first index at or after `from` where `needle` occurs in `data`.
    static func find(_ needle: [UInt8], in data: [UInt8], from: Int) -> Int? {
        guard data.count - from >= needle.count else { return nil }
        var start = from
        while start + needle.count <= data.count {
            if data[start] == needle[0], data[start..<(start + needle.count)].elementsEqual(needle) { return start }
            start += 1
        }
        return nil
    }

    /// The length of the longest suffix of `data[from...]` that is a proper prefix of `needle`.
    static func prefixOverlap(_ needle: [UInt8], endOf data: [UInt8], from: Int) -> Int {
        var length = min(needle.count - 1, data.count - from)
        while length > 0 {
            if data[(data.count - length)...].elementsEqual(needle[0..<length]) { return length }
            length -= 1
        }
        return 0
    }
}
