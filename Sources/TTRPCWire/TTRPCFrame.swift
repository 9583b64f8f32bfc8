// ttrpc framing as containerd/ttrpc's channel.go: a 10-byte header (u32 BE payload length,
// u32 BE stream id, u8 type, u8 flags) followed by the payload.

/// Frame types and flags of the ttrpc protocol.
public enum TTRPC {
    public static let requestType: UInt8 = 1
    public static let responseType: UInt8 = 2
    public static let dataType: UInt8 = 3

    /// Data frame flags (stream RPCs only).
    public static let flagRemoteClosed: UInt8 = 0x1
    public static let flagRemoteOpen: UInt8 = 0x2
    public static let flagNoData: UInt8 = 0x4

    /// The largest message either side accepts (containerd/ttrpc's messageLengthMax).
    public static let maxMessageSize = 4 << 20

    /// A header announcing this many bytes or more cannot start a ttrpc frame: its first byte
    /// is not 0, the property the listener sniffs a connection by. The server treats such a
    /// header as a stream that lost its framing instead of discarding up to 4 GiB like Go.
    public static let unframeableLength = 1 << 24
}

/// A ttrpc frame header.
public struct TTRPCFrameHeader: Sendable, Equatable {
    public static let size = 10

    /// Payload length, header excluded.
    public var length: UInt32
    public var streamID: UInt32
    public var type: UInt8
    public var flags: UInt8

    public init(length: UInt32, streamID: UInt32, type: UInt8, flags: UInt8 = 0) {
        self.length = length
        self.streamID = streamID
        self.type = type
        self.flags = flags
    }

    /// Parses the first 10 bytes of `bytes`; nil when fewer are there.
    public init?(parsing bytes: UnsafeRawBufferPointer) {
        guard bytes.count >= Self.size else { return nil }
        func u32(_ at: Int) -> UInt32 {
            UInt32(bytes[at]) << 24 | UInt32(bytes[at + 1]) << 16 | UInt32(bytes[at + 2]) << 8 | UInt32(bytes[at + 3])
        }
        self.init(length: u32(0), streamID: u32(4), type: bytes[8], flags: bytes[9])
    }

    public func encode<S: ProtoSink>(into sink: inout S) {
        for shift in stride(from: 24, through: 0, by: -8) { sink.appendByte(UInt8(truncatingIfNeeded: length >> UInt32(shift))) }
        for shift in stride(from: 24, through: 0, by: -8) { sink.appendByte(UInt8(truncatingIfNeeded: streamID >> UInt32(shift))) }
        sink.appendByte(type)
        sink.appendByte(flags)
    }
}

/// A whole ttrpc frame.
public struct TTRPCFrame: Sendable, Equatable {
    public var streamID: UInt32
    public var type: UInt8
    public var flags: UInt8
    public var payload: [UInt8]

    public init(streamID: UInt32, type: UInt8, flags: UInt8 = 0, payload: [UInt8]) {
        self.streamID = streamID
        self.type = type
        self.flags = flags
        self.payload = payload
    }

    /// A request frame carrying `request`.
    public static func request(_ request: TTRPCRequest, streamID: UInt32) -> TTRPCFrame {
        TTRPCFrame(streamID: streamID, type: TTRPC.requestType, payload: request.encoded())
    }

    /// A response frame carrying `response`.
    public static func response(_ response: TTRPCResponse, streamID: UInt32) -> TTRPCFrame {
        TTRPCFrame(streamID: streamID, type: TTRPC.responseType, payload: response.encoded())
    }

    /// Header and payload, ready to write. The payload must fit in a u32 (callers keep it
    /// under TTRPC.maxMessageSize).
    public func encoded() -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(TTRPCFrameHeader.size + payload.count)
        TTRPCFrameHeader(length: UInt32(truncatingIfNeeded: payload.count), streamID: streamID, type: type, flags: flags)
            .encode(into: &bytes)
        bytes.append(contentsOf: payload)
        return bytes
    }
}

/// Splits a byte stream into ttrpc frames, for clients reading a blocking socket without NIO
/// (tests' raw clients; NIO channels use TTRPCFrameDecoder, which shares these rules and which
/// FuzzTTRPC checks against this one).
public struct TTRPCFrameReader: Sendable {
    /// What the next bytes of the stream turned out to be.
    public enum Item: Sendable, Equatable {
        case frame(TTRPCFrame)
        /// A frame announced larger than `maxMessageSize`; its payload was skipped.
        case oversized(TTRPCFrameHeader)
    }

    /// The stream cannot be framed any more.
    public struct Unframeable: Error, Sendable, Equatable, CustomStringConvertible {
        public let header: TTRPCFrameHeader
        public var description: String {
            "ttrpc frame header announces \(header.length) bytes (stream \(header.streamID), type \(header.type)): not a ttrpc stream"
        }
    }

    public let maxMessageSize: Int
    private var buffer: [UInt8] = []
    private var offset = 0
    private var skipping = 0

    public init(maxMessageSize: Int = TTRPC.maxMessageSize) {
        self.maxMessageSize = maxMessageSize
    }

    /// Bytes held that do not make a whole frame yet (a stream ending here ends mid-frame).
    public var pendingByteCount: Int { buffer.count - offset + skipping }

    /// Adds bytes read from the connection and returns every frame they complete.
    public mutating func feed(_ bytes: [UInt8]) throws(Unframeable) -> [Item] {
        var input = bytes[...]
        if skipping > 0 {
            let n = min(skipping, input.count)
            skipping -= n
            input = input.dropFirst(n)
        }
        if offset > 0, offset == buffer.count {
            buffer.removeAll(keepingCapacity: true)
            offset = 0
        }
        buffer.append(contentsOf: input)
        var items: [Item] = []
        while skipping == 0 {
            let available = buffer.count - offset
            guard available >= TTRPCFrameHeader.size else { break }
            let header = buffer.withUnsafeBytes { raw in
                TTRPCFrameHeader(parsing: UnsafeRawBufferPointer(rebasing: raw[offset..<(offset + TTRPCFrameHeader.size)]))
            }
            guard let header else { break }
            if header.length >= UInt32(TTRPC.unframeableLength) { throw Unframeable(header: header) }
            let length = Int(header.length)
            if length > maxMessageSize {
                let inHand = min(length, available - TTRPCFrameHeader.size)
                offset += TTRPCFrameHeader.size + inHand
                skipping = length - inHand
                items.append(.oversized(header))
                continue
            }
            guard available - TTRPCFrameHeader.size >= length else { break }
            let start = offset + TTRPCFrameHeader.size
            let payload = Array(buffer[start..<(start + length)])
            offset = start + length
            items.append(.frame(TTRPCFrame(streamID: header.streamID, type: header.type, flags: header.flags, payload: payload)))
        }
        if offset == buffer.count {
            buffer.removeAll(keepingCapacity: true)
            offset = 0
        }
        return items
    }
}
