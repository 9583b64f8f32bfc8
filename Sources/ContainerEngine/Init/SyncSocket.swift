#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Glibc

/// Length-prefixed JSON messages over the agent <-> init socket (u32 little-endian length).
/// Used by both sides; all calls block, so the agent calls them off the cooperative pool.
public struct SyncSocket: Sendable {
    /// The largest message accepted (a spec with a big seccomp profile is well below).
    static let maxMessage = 16 << 20

    public let fd: Int32

    public init(fd: Int32) {
        self.fd = fd
    }

    /// Failure of the socket itself.
    public enum Failure: Error, Equatable {
        /// The peer closed the socket (for the agent after `start`: the exec succeeded).
        case closed
        /// read/write failed with errno.
        case io(Int32)
        /// The peer sent something that is not a message.
        case malformed(String)
    }

    public func send(_ message: SyncMessage) throws(Failure) {
        let body: Data
        do {
            body = try JSONEncoder().encode(message)
        } catch {
            throw .malformed("encode: \(error)")
        }
        var length = UInt32(body.count).littleEndian
        var frame = Data(bytes: &length, count: 4)
        frame.append(body)
        var offset = 0
        while offset < frame.count {
            let n = frame.withUnsafeBytes { raw in
                Glibc.send(fd, raw.baseAddress! + offset, raw.count - offset, Int32(MSG_NOSIGNAL))
            }
            if n < 0 {
                if errno == EINTR { continue }
                throw .io(errno)
            }
            offset += n
        }
    }

    public func receive() throws(Failure) -> SyncMessage {
        var header = [UInt8](repeating: 0, count: 4)
        try readFully(&header)
        let length = Int(UInt32(header[0]) | UInt32(header[1]) << 8 | UInt32(header[2]) << 16 | UInt32(header[3]) << 24)
        guard length > 0, length <= Self.maxMessage else { throw .malformed("message length \(length)") }
        var body = [UInt8](repeating: 0, count: length)
        try readFully(&body)
        do {
            return try JSONDecoder().decode(SyncMessage.self, from: Data(body))
        } catch {
            throw .malformed("decode: \(error)")
        }
    }

    private func readFully(_ buffer: inout [UInt8]) throws(Failure) {
        var offset = 0
        let count = buffer.count
        while offset < count {
            let n = buffer.withUnsafeMutableBytes { raw in
                Glibc.read(fd, raw.baseAddress! + offset, count - offset)
            }
            if n < 0 {
                if errno == EINTR { continue }
                throw .io(errno)
            }
            if n == 0 { throw .closed }
            offset += n
        }
    }
}
