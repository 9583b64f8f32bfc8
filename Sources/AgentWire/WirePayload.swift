import GRPCCore
import NIOCore

/// A direct method's encoded response, serialized straight into the ByteBuffer it is written
/// from: a large answer (a 32 KiB ReadStdout) goes to the socket behind its frame header
/// without being copied again, where an array of it was first copied into the frame.
public struct WirePayload: GRPCContiguousBytes, Sendable {
    /// Its readable bytes are the message.
    private(set) var buffer: ByteBuffer

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

    public var count: Int { buffer.readableBytes }

    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try buffer.withUnsafeReadableBytes(body)
    }

    public mutating func withUnsafeMutableBytes<R>(_ body: (UnsafeMutableRawBufferPointer) throws -> R) rethrows -> R {
        // In place: writing through a copy would first copy the whole storage (copy-on-write).
        try buffer.withUnsafeMutableReadableBytes(body)
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
