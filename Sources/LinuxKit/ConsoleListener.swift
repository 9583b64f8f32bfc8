import CLinuxShim
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A listening socket whose accept loop can be stopped from another thread.
public final class ConsoleListener: @unchecked Sendable {
    // `fd` is fixed at init and closed once, by `close()` after the accept loop ends.
    public let fd: Int32
    /// "vsock -1:1026", "unix socket /path": for logs and errors.
    public let name: String
    let wakeup: ConsoleWakeup

    /// Takes ownership of an already listening socket.
    public init(fd: Int32, name: String) throws(SyscallError) {
        self.fd = fd
        self.name = name
        self.wakeup = try ConsoleWakeup()
    }

    /// Listens on AF_VSOCK (CID_ANY, port).
    public static func vsock(port: UInt32, cid: UInt32 = Vsock.cidAny) throws(SyscallError) -> ConsoleListener {
        let fd = try Vsock.listen(cid: cid, port: port)
        return try ConsoleListener(fd: fd, name: "vsock \(Vsock.describe(cid: cid)):\(port)")
    }

    /// Listens on a unix socket path ('@name' for abstract).
    public static func unix(path: String) throws(SyscallError) -> ConsoleListener {
        let fd = try UnixSocket.listen(path: path)
        return try ConsoleListener(fd: fd, name: "unix socket \(path)")
    }

    /// Blocks until a connection arrives (returned, close-on-exec) or `stop()` (nil).
    /// `alsoStop` is a second wakeup that ends the wait (the owner's shutdown signal).
    public func accept(alsoStop: ConsoleWakeup? = nil) throws(SyscallError) -> Int32? {
        while true {
            var fds = [
                pollfd(fd: fd, events: Int16(POLLIN), revents: 0),
                pollfd(fd: wakeup.readFD, events: Int16(POLLIN), revents: 0),
                pollfd(fd: alsoStop?.readFD ?? -1, events: Int16(POLLIN), revents: 0),
            ]
            let ready = poll(&fds, 3, -1)
            if ready < 0 {
                if errno == EINTR { continue }
                throw SyscallError("poll", target: name, errno: errno)
            }
            if fds[1].revents != 0 || fds[2].revents != 0 { return nil }
            if fds[0].revents == 0 { continue }
            let conn = console_accept(fd)
            if conn >= 0 { return conn }
            switch -conn {
            // A peer that vanished between poll and accept is not the listener's failure.
            case EINTR, EAGAIN, ECONNABORTED, EPROTO: continue
            default: throw SyscallError("accept on", target: name, errno: -conn)
            }
        }
    }

    /// Makes a blocked or future `accept()` return nil.
    public func stop() {
        wakeup.raise()
    }

    deinit {
        Glibc.close(fd)
    }
}
