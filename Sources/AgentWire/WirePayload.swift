import GRPCCore
import NIOCore
import TTRPCWire

/// A direct method's encoded response, serialized straight into the ByteBuffer it is written
/// from: a large answer (a 32 KiB ReadStdout) goes to the socket behind its frame header
/// without being copied again, where an array of it was first copied into the frame.
public struct WirePayload: GRPCContiguousBytes, Sendable {
    /// The message's bytes; with `field`, that field's contents.
    private(set) var buffer: ByteBuffer
    /// Set when the message is one length-delimited field holding `buffer`: the field's header
    /// is encoded as it is written, and the contents follow it as their own buffer.
    private(set) var field: UInt64?

    public init(repeating byte: UInt8, count: Int) {
        var buffer = ByteBufferAllocator().buffer(capacity: count)
        buffer.writeRepeatingByte(byte, count: count)
        self.buffer = buffer
    }

    public init<Bytes: Sequence>(_ bytes: Bytes) where Bytes.Element == UInt8 {
        var buffer = ByteBufferAllocator().buffer(capacity: bytes.underestimatedCount)
        buffer.writeBytes(bytes)
        self.buffer = buffer
    }

    /// The message whose only field is length-delimited field `number` holding `contents` (a
    /// ReadStreamResponse's data), with the bytes protobuf gives it. The contents are written
    /// to the socket as they are, not copied into an encoding: for a read of container output
    /// they are the output buffer's own chunk.
    public init(field number: UInt64, contents: ByteBuffer) {
        buffer = contents
        // proto3 leaves an empty bytes field out: the message is then empty.
        field = contents.readableBytes == 0 ? nil : number
    }

    public var count: Int {
        guard let field else { return buffer.readableBytes }
        return ProtoWriter.lengthFieldSize(field, buffer.readableBytes)
    }

    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        guard field != nil else { return try buffer.withUnsafeReadableBytes(body) }
        return try contiguous().withUnsafeReadableBytes(body)
    }

    public mutating func withUnsafeMutableBytes<R>(_ body: (UnsafeMutableRawBufferPointer) throws -> R) rethrows -> R {
        if field != nil {
            buffer = contiguous()
            field = nil
        }
        // In place: writing through a copy would first copy the whole storage (copy-on-write).
        return try buffer.withUnsafeMutableReadableBytes(body)
    }

    /// The whole message in one buffer (a field's header and contents copied together).
    private func contiguous() -> ByteBuffer {
        var whole = ByteBufferAllocator().buffer(capacity: count)
        _ = append(to: &whole, copyingUpTo: .max)
        return whole
    }

    /// Writes the message behind `head`, all of it copied when it is at most `limit` bytes;
    /// otherwise only a field's header is, and the bytes are returned to be written after `head`
    /// as they are.
    func append(to head: inout ByteBuffer, copyingUpTo limit: Int) -> ByteBuffer? {
        if let field { ProtoWriter.writeLengthHeader(field, buffer.readableBytes, into: &head) }
        guard count <= limit else { return buffer }
        var bytes = buffer
        head.writeBuffer(&bytes)
        return nil
    }
}

extension TTRPCResponse {
    /// The size of the OK Response carrying `count` payload bytes, as `TTRPCResponse(payload:)`
    /// encodes it: the empty status Go always sends, then the payload field when not empty.
    static func okSize(payload count: Int) -> Int {
        ProtoWriter.lengthFieldSize(1, 0) + (count == 0 ? 0 : ProtoWriter.lengthFieldSize(2, count))
    }

    /// The OK Response's bytes before its payload's own: the status, the payload's tag and length.
    static func encodeOKPrefix<S: ProtoSink>(payload count: Int, into sink: inout S) {
        ProtoWriter.writeLengthHeader(1, 0, into: &sink)
        if count > 0 { ProtoWriter.writeLengthHeader(2, count, into: &sink) }
    }
}
