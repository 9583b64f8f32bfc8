import NIOCore

/// What the frame decoder found on the wire.
public enum TTRPCInboundFrame {
    case frame(TTRPCFrameHeader, ByteBuffer)
    /// A frame announced larger than the message limit; its payload is being discarded.
    case oversized(TTRPCFrameHeader)
}

/// Why a ttrpc byte stream cannot be read any more (the connection ends, one log line).
public enum TTRPCStreamError: Error, CustomStringConvertible {
    case unframeable(TTRPCFrameHeader)
    case truncated(have: Int, header: TTRPCFrameHeader?)

    public var description: String {
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

/// Splits a connection's bytes into frames, for the server and the client alike: each payload
/// is a slice of what NIO read (no copy); a header announcing 16 MiB or more ends the stream
/// (not ttrpc); a frame over the message limit is skipped as it arrives and reported, so that
/// stream can be answered RESOURCE_EXHAUSTED while the connection keeps working, as
/// containerd/ttrpc does.
public struct TTRPCFrameDecoder: ByteToMessageDecoder {
    public typealias InboundOut = TTRPCInboundFrame

    public let maxMessageSize: Int
    private var skipping = 0
    private var skippedHeader: TTRPCFrameHeader?

    public init(maxMessageSize: Int = TTRPC.maxMessageSize) {
        self.maxMessageSize = maxMessageSize
    }

    public mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
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

    public mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
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

extension TTRPCFrameHeader {
    /// The header as one write: through ProtoSink each of its ten bytes paid a capacity and
    /// an exclusivity check of its own.
    @inlinable public func encode(into buffer: inout ByteBuffer) {
        buffer.writeMultipleIntegers(length, streamID, type, flags)
    }
}

extension ByteBuffer: ProtoSink {
    @inlinable public mutating func appendByte(_ byte: UInt8) { writeInteger(byte) }
    @inlinable public mutating func appendBytes(_ bytes: UnsafeRawBufferPointer) { writeBytes(bytes) }
}
