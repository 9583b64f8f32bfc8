#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CLinuxShim

/// Small fd helpers shared by the console bridges; results are errno-carrying, never traps.
public enum ConsoleIO {
    /// Result of one non-blocking read or write.
    enum Transfer: Equatable {
        case bytes(Int)
        case wouldBlock
        case endOfStream
        case failed(Int32)
    }

    /// Sets O_NONBLOCK on `fd`; only for fds the bridge owns (never a shared stdin/stdout).
    public static func setNonBlocking(_ fd: Int32, target: String) throws(SyscallError) {
        let flags = fcntl(fd, F_GETFL)
        guard flags >= 0 else { throw SyscallError("get flags of", target: target, errno: Glibc.errno) }
        guard fcntl(fd, F_SETFL, flags | O_NONBLOCK) == 0 else {
            throw SyscallError("set O_NONBLOCK on", target: target, errno: Glibc.errno)
        }
    }

    /// Closes `fd`, ignoring errors: used on teardown paths where nothing can be done.
    public static func closeQuietly(_ fd: Int32) {
        if fd >= 0 { _ = close(fd) }
    }

    /// A pty master reports EIO once its slave side is gone: that is an end of stream.
    static func read(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer) -> Transfer {
        while true {
            let n = Glibc.read(fd, buffer.baseAddress, buffer.count)
            if n > 0 { return .bytes(n) }
            if n == 0 { return .endOfStream }
            let err = Glibc.errno
            switch err {
            case EINTR: continue
            case EAGAIN, EWOULDBLOCK: return .wouldBlock
            case EIO, ECONNRESET, EPIPE, ENOTCONN: return .endOfStream
            default: return .failed(err)
            }
        }
    }

    /// Sockets are written with MSG_NOSIGNAL so a vanished peer is an EPIPE result, not a
    /// SIGPIPE that kills the agent; other fds (pty, pipe, port) fall back to write(2).
    static func write(_ fd: Int32, from buffer: UnsafeRawBufferPointer) -> Transfer {
        var useSend = true
        while true {
            var n = useSend ? send(fd, buffer.baseAddress, buffer.count, Int32(MSG_NOSIGNAL)) : 0
            if useSend, n < 0, Glibc.errno == ENOTSOCK {
                useSend = false
            }
            if !useSend {
                n = Glibc.write(fd, buffer.baseAddress, buffer.count)
            }
            if n >= 0 { return .bytes(n) }
            let err = Glibc.errno
            switch err {
            case EINTR: continue
            case EAGAIN, EWOULDBLOCK: return .wouldBlock
            case EPIPE, ECONNRESET, EIO, ENOTCONN: return .endOfStream
            default: return .failed(err)
            }
        }
    }

    /// Writes all of `bytes` to a blocking fd; false if the peer went away.
    @discardableResult
    public static func writeAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let result = bytes.withUnsafeBytes { raw in
                write(fd, from: UnsafeRawBufferPointer(rebasing: raw[offset...]))
            }
            switch result {
            case let .bytes(n): offset += n
            case .wouldBlock:
                var pfd = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
                _ = poll(&pfd, 1, -1)
            case .endOfStream, .failed: return false
            }
        }
        return true
    }
}

/// A self-pipe that wakes a poll loop from another thread; once raised it stays raised.
public final class ConsoleWakeup: @unchecked Sendable {
    // The fds are written once in init and only read afterwards; raise() is a write(2).
    let readFD: Int32
    private let writeFD: Int32

    public init() throws(SyscallError) {
        var fds: [Int32] = [-1, -1]
        _ = try SyscallError.check(console_pipe(&fds), "create wakeup pipe", target: "pipe2")
        readFD = fds[0]
        writeFD = fds[1]
    }

    /// Wakes every poll loop watching this wakeup, now and later.
    public func raise() {
        var byte: UInt8 = 1
        _ = Glibc.write(writeFD, &byte, 1)
    }

    /// True once `raise()` was called (never consumes the signal).
    public var isRaised: Bool {
        var pfd = pollfd(fd: readFD, events: Int16(POLLIN), revents: 0)
        return poll(&pfd, 1, 0) == 1
    }

    deinit {
        close(readFD)
        close(writeFD)
    }
}
