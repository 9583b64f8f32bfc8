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
    /// Which vsock peers are served; others are closed at once (unix peers are not affected).
    let peers: VsockPeerPolicy
    /// Told of each refused vsock peer's CID (for a log line).
    let onRefused: @Sendable (UInt32) -> Void

    /// Takes ownership of an already listening socket.
    public init(
        fd: Int32, name: String, peers: VsockPeerPolicy = .hostOnly,
        onRefused: @escaping @Sendable (UInt32) -> Void = { _ in }
    ) throws(SyscallError) {
        self.fd = fd
        self.name = name
        self.peers = peers
        self.onRefused = onRefused
        self.wakeup = try ConsoleWakeup()
    }

    /// Listens on AF_VSOCK (CID_ANY, port), serving the peers `peers` admits.
    public static func vsock(
        port: UInt32, cid: UInt32 = Vsock.cidAny, peers: VsockPeerPolicy = .hostOnly,
        onRefused: @escaping @Sendable (UInt32) -> Void = { _ in }
    ) throws(SyscallError) -> ConsoleListener {
        let fd = try Vsock.listen(cid: cid, port: port)
        return try ConsoleListener(
            fd: fd, name: "vsock \(Vsock.describe(cid: cid)):\(port)", peers: peers, onRefused: onRefused)
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
            var cid = UInt32.max
            let conn = console_accept_peer(fd, &cid)
            if conn >= 0 {
                if cid != UInt32.max, !peers.admits(cid: cid) {
                    Glibc.close(conn)
                    onRefused(cid)
                    continue
                }
                return conn
            }
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

/// Which vsock peers a listener serves. Only the host (CID 2) by default: with vsock loopback
/// in the guest kernel, a container process could otherwise connect to CID 1 (or the guest's
/// own CID) and reach the agent's API, its log stream or a root debug console.
public struct VsockPeerPolicy: Sendable, Equatable {
    /// In-guest clients (loopback) are served too: for tests on hosts without vhost-vsock.
    public var allowGuestClients: Bool

    public init(allowGuestClients: Bool) {
        self.allowGuestClients = allowGuestClients
    }

    public static let hostOnly = VsockPeerPolicy(allowGuestClients: false)

    /// VMADDR_CID_HOST: every hypervisor's host side, hybrid vsock included.
    public static let hostCID: UInt32 = 2

    public func admits(cid: UInt32) -> Bool {
        cid == Self.hostCID || allowGuestClients
    }
}
