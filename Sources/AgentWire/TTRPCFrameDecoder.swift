import NIOCore

/// What the server's frame decoder found on the wire.
enum TTRPCInboundFrame {
    case frame(TTRPCFrameHeader, ByteBuffer)
    /// A frame announced larger than the message limit; its payload is being discarded.
    case oversized(TTRPCFrameHeader)
}

/// Why a ttrpc byte stream cannot be served any more (the connection ends, one log line).
enum TTRPCStreamError: Error, CustomStringConvertible {
    case unframeable(TTRPCFrameHeader)
    case truncated(have: Int, header: TTRPCFrameHeader?)

    var description: String {
        switch self {
        case let .unframeable(header):
            return TTRPCFrameReader.Unframeable(header: header).description
        case let .truncated(have, header?):
            return "connection ended inside a frame: \(have) of \(UInt64(header.length) + 10) bytes of a frame on stream \(header.streamID)"
        case let .truncated(have, nil):
            return "connection ended inside a frame header: \(have) of 10 bytes"
        }
    }
}

/// Splits the connection's bytes into frames (rules as TTRPCFrameReader): a frame over the
/// message limit is skipped as it arrives and reported, so that stream can be answered
/// RESOURCE_EXHAUSTED while the connection keeps working, as containerd/ttrpc does.
struct TTRPCFrameDecoder: ByteToMessageDecoder {
    typealias InboundOut = TTRPCInboundFrame

    let maxMessageSize: Int
    private var skipping = 0
    private var skippedHeader: TTRPCFrameHeader?

    init(maxMessageSize: Int) {
        self.maxMessageSize = maxMessageSize
    }

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        if skipping > 0 {
            let n = min(skipping, buffer.readableBytes)
            buffer.moveReaderIndex(forwardBy: n)
            skipping -= n
            return skipping > 0 ? .needMoreData : .continue
        }
        guard let header = Self.peekHeader(buffer) else { return .needMoreData }
        if header.length >= UInt32(TTRPC.unframeableLength) { throw TTRPCStreamError.unframeable(header) }
        let length = Int(header.length)
        if length > maxMessageSize {
            buffer.moveReaderIndex(forwardBy: TTRPCFrameHeader.size)
            skipping = length
            skippedHeader = header
            context.fireChannelRead(wrapInboundOut(.oversized(header)))
            return .continue
        }
        guard buffer.readableBytes - TTRPCFrameHeader.size >= length else { return .needMoreData }
        buffer.moveReaderIndex(forwardBy: TTRPCFrameHeader.size)
        guard let payload = buffer.readSlice(length: length) else { return .needMoreData }
        context.fireChannelRead(wrapInboundOut(.frame(header, payload)))
        return .continue
    }

    mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        while try decode(context: context, buffer: &buffer) == .continue {}
        if skipping > 0 {
            let length = Int(skippedHeader?.length ?? 0)
            throw TTRPCStreamError.truncated(have: TTRPCFrameHeader.size + length - skipping, header: skippedHeader)
        }
        if buffer.readableBytes > 0 {
            throw TTRPCStreamError.truncated(have: buffer.readableBytes, header: Self.peekHeader(buffer))
        }
        return .needMoreData
    }

    static func peekHeader(_ buffer: ByteBuffer) -> TTRPCFrameHeader? {
        buffer.withUnsafeReadableBytes { TTRPCFrameHeader(parsing: $0) }
    }
}

extension ByteBuffer: ProtoSink {
    public mutating func appendByte(_ byte: UInt8) { writeInteger(byte) }
    public mutating func appendBytes(_ bytes: UnsafeRawBufferPointer) { writeBytes(bytes) }
}
