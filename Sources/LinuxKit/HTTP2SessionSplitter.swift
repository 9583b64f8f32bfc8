/// Finds where each host connection's HTTP/2 session begins in the one byte stream a
/// virtio-serial port carries.
///
/// The port has no connection boundaries: when a host disconnects and another connects, the
/// guest learns it only from an out-of-band state (POLLHUP while no host is connected), which
/// it misses entirely when the close and the new connect land between two polls, and the new
/// connection's bytes follow the old one's in the same stream. Every HTTP/2 client opens with
/// the 24-byte connection preface, and a well-formed connection ends on a frame boundary, so a
/// preface found where the next frame header would be starts a new session. After the host
/// was seen gone (`reset()`), or when a frame header cannot be one the server accepts, the
/// splitter is out of sync and scans for the preface, discarding what precedes it.
public struct HTTP2SessionSplitter: Sendable {
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

    /// The client connection preface (RFC 9113 section 3.4).
    public static let preface = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)
    static let frameHeaderSize = 9

    /// The largest frame payload the server accepts (its SETTINGS_MAX_FRAME_SIZE); a header
    /// announcing more means the splitter lost the frame boundaries.
    public let maxFrameSize: Int
    /// Bytes that cannot be classified yet (a partial frame header or preface).
    private var held: [UInt8] = []
    /// Frame bytes (header included) still to pass before the next frame boundary.
    private var frameLeft = 0
    /// False: scanning for a preface. True: at or inside a frame of the current connection.
    private var synced = false
    /// True while a session's server is there to take the bytes.
    private var forwarding = false

    public init(maxFrameSize: Int = (1 << 24) - 1) {
        self.maxFrameSize = maxFrameSize
    }

    /// The host was seen gone: whatever comes next starts with a new connection's preface.
    public mutating func reset() {
        held = []
        frameLeft = 0
        synced = false
        forwarding = false
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
        let preface = Self.preface
        var index = 0
        while index < data.count {
            if !synced {
                if let start = Self.find(preface, in: data, from: index) {
                    pass(index..<start)
                    index = start
                    synced = true
                    frameLeft = 0
                    continue
                }
                // Keep a tail that may be the start of a preface split across reads.
                let tail = Self.prefixOverlap(preface, endOf: data, from: index)
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
            // At a frame boundary: a preface here starts a new session.
            let available = data.count - index
            let compared = min(available, preface.count)
            if data[index..<(index + compared)].elementsEqual(preface[0..<compared]) {
                if available < preface.count {
                    held = Array(data[index...])
                    break
                }
                flush()
                events.append(.newSession)
                forwarding = true
                kept.append(contentsOf: preface)
                index += preface.count
                continue
            }
            if available < Self.frameHeaderSize {
                held = Array(data[index...])
                break
            }
            let length = Int(data[index]) << 16 | Int(data[index + 1]) << 8 | Int(data[index + 2])
            if length > maxFrameSize {
                synced = false
                forwarding = false
                continue
            }
            frameLeft = Self.frameHeaderSize + length
        }
        flush()
        return events
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
