import GRPCCore
import NIOCore

/// Splits the DATA of one stream into gRPC messages: a 5-byte prefix (compressed flag, u32
/// big-endian length) then the message. The length is checked against the limit before a byte
/// of the message is buffered. The server reads requests with it, agent-ctl's client responses.
package struct GRPCHTTP2MessageDeframer {
    /// What the next call to `next()` found.
    package enum Next: Equatable {
        case message(WireBytes)
        case needMoreData
        case error(code: RPCError.Code, message: String)
    }

    private static let prefixLength = 5

    let maxMessageSize: Int
    /// "request" or "response", for the errors.
    let direction: String
    private var buffer = ByteBuffer()

    package init(maxMessageSize: Int, direction: String = "request") {
        self.maxMessageSize = maxMessageSize
        self.direction = direction
    }

    /// Bytes received but not yet returned as messages.
    package var bufferedBytes: Int { self.buffer.readableBytes }

    package mutating func append(_ bytes: ByteBuffer) {
        if self.buffer.readableBytes == 0 {
            // Most requests fit one DATA frame: take it without copying.
            self.buffer = bytes
        } else {
            var bytes = bytes
            self.buffer.writeBuffer(&bytes)
        }
    }

    /// Hands every complete message now buffered to `deliver`, in order; returns the framing
    /// error that stopped it, or nil once it needs more data.
    package mutating func drain(_ deliver: (WireBytes) -> Void) -> (code: RPCError.Code, message: String)? {
        while true {
            switch self.next() {
            case .message(let message): deliver(message)
            case .needMoreData: return nil
            case .error(let code, let message): return (code, message)
            }
        }
    }

    package mutating func next() -> Next {
        guard let flag = self.buffer.getInteger(at: self.buffer.readerIndex, as: UInt8.self),
            let length = self.buffer.getInteger(at: self.buffer.readerIndex + 1, as: UInt32.self)
        else { return .needMoreData }
        switch flag {
        case 0:
            break
        case 1:
            // Only identity is accepted or offered (no grpc-encoding), so nothing may be compressed.
            return .error(code: .internalError, message: "compressed message received without grpc-encoding")
        default:
            return .error(code: .internalError, message: "invalid message compression flag \(flag)")
        }
        guard let size = Int(exactly: length), size <= self.maxMessageSize else {
            return .error(
                code: .resourceExhausted,
                message: "\(self.direction) message of \(length) bytes exceeds the limit of \(self.maxMessageSize) bytes")
        }
        guard self.buffer.readableBytes - Self.prefixLength >= size else {
            return .needMoreData
        }
        self.buffer.moveReaderIndex(forwardBy: Self.prefixLength)
        guard let message = self.buffer.readBytes(length: size) else { return .needMoreData }
        if self.buffer.readableBytes == 0 {
            self.buffer.clear()
        } else if self.buffer.readerIndex > 64 * 1024 {
            self.buffer.discardReadBytes()
        }
        return .message(message)
    }
}
