#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Hybrid vsock (Firecracker, Cloud Hypervisor): the host reaches guest port P through the
/// VMM's unix socket by sending `CONNECT P\n` and reading back a line that starts with `OK`.
public enum VsockHybrid {
    /// The longest handshake reply accepted ("OK <host port>\n" is a few bytes).
    static let maxReplyBytes = 512

    /// Connects through the VMM socket at `socketPath` to guest vsock `port`; the returned fd
    /// then carries the guest connection's bytes (blocking, close-on-exec).
    public static func connect(socketPath: String, port: UInt32, timeout: Double = 10) throws(SyscallError) -> Int32 {
        let target = "hybrid vsock \(socketPath) port \(port)"
        let fd = try UnixSocket.connect(path: socketPath)
        do throws(SyscallError) {
            guard ConsoleIO.writeAll(fd, Array("CONNECT \(port)\n".utf8)) else {
                throw SyscallError("send CONNECT to", target: target, errno: EPIPE)
            }
            let reply = try readLine(fd, target: target, deadline: ConsoleClock.now() + timeout)
            guard reply.hasPrefix("OK") else {
                throw SyscallError(
                    "CONNECT through", target: target, errno: ECONNREFUSED,
                    detail: "the VMM answered \(reply.debugDescription) instead of OK (is the guest listening on port \(port)?)")
            }
            return fd
        } catch {
            close(fd)
            throw error
        }
    }

    /// Reads one '\n'-terminated line a byte at a time, so no byte of the guest stream that
    /// follows the reply is consumed.
    static func readLine(_ fd: Int32, target: String, deadline: Double) throws(SyscallError) -> String {
        var line: [UInt8] = []
        while line.count < maxReplyBytes {
            let left = deadline - ConsoleClock.now()
            if left <= 0 { throw SyscallError("wait for the CONNECT reply from", target: target, errno: ETIMEDOUT) }
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&pfd, 1, Int32(min(left * 1000 + 1, 60_000)))
            if ready < 0, errno != EINTR { throw SyscallError("poll", target: target, errno: errno) }
            if ready <= 0 { continue }
            var byte: UInt8 = 0
            let n = read(fd, &byte, 1)
            if n == 0 {
                throw SyscallError(
                    "CONNECT through", target: target, errno: ECONNRESET,
                    detail: "the VMM closed the socket\(line.isEmpty ? "" : " after \(String(decoding: line, as: UTF8.self).debugDescription)")")
            }
            if n < 0 {
                if errno == EINTR || errno == EAGAIN { continue }
                throw SyscallError("read the CONNECT reply from", target: target, errno: errno)
            }
            if byte == UInt8(ascii: "\n") { return String(decoding: line, as: UTF8.self) }
            line.append(byte)
        }
        throw SyscallError("CONNECT through", target: target, errno: EPROTO, detail: "reply longer than \(maxReplyBytes) bytes without a newline")
    }
}
