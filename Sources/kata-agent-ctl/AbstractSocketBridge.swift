#if canImport(Glibc)
import Glibc
#endif
import Foundation
import LinuxKit

/// Reaches an abstract unix socket (`unix://@name`) through a private filesystem socket.
///
/// The gRPC transport (through NIO) can only dial an abstract name NUL-padded to the full
/// sun_path, which is a different address from the exact-length name the agent binds. So the
/// client dials a socket in a fresh 0700 directory and each accepted connection is relayed to
/// the exact-length abstract address. The first upstream connection is opened up front so an
/// absent agent is reported plainly ("Connection refused") rather than as a gRPC failure.
final class AbstractSocketBridge: @unchecked Sendable {
    /// The filesystem socket the gRPC client dials.
    let path: String
    private let directory: String
    private let listener: ConsoleListener
    private let abstractName: String
    // Guarded by `lock`: the pre-connected upstream fd handed to the first accepted connection.
    private let lock = NSLock()
    private var firstUpstream: Int32

    init(abstractName name: String) throws {
        abstractName = "@" + name
        firstUpstream = try UnixSocket.connect(path: abstractName)
        var template = Array("/tmp/kata-agent-ctl.XXXXXX".utf8CString)
        guard let created = template.withUnsafeMutableBufferPointer({ buffer in
            buffer.baseAddress.flatMap { mkdtemp($0) }
        }) else {
            let code = errno
            ConsoleIO.closeQuietly(firstUpstream)
            throw ConsoleError("create a private directory", target: "/tmp/kata-agent-ctl.*", errno: code)
        }
        directory = String(cString: created)
        path = directory + "/bridge.sock"
        do {
            listener = try ConsoleListener.unix(path: path)
        } catch {
            ConsoleIO.closeQuietly(firstUpstream)
            rmdir(directory)
            throw error
        }
        let thread = Thread { [self] in acceptLoop() }
        thread.name = "abstract-bridge"
        thread.start()
    }

    /// Stops accepting and removes the private socket; relays in flight end with their peers.
    func stop() {
        listener.stop()
        unlink(path)
        rmdir(directory)
        lock.withLock {
            ConsoleIO.closeQuietly(firstUpstream)
            firstUpstream = -1
        }
    }

    private func acceptLoop() {
        while let client = try? listener.accept() {
            let pending = lock.withLock {
                defer { firstUpstream = -1 }
                return firstUpstream
            }
            let upstream = pending >= 0 ? pending : ((try? UnixSocket.connect(path: abstractName)) ?? -1)
            guard upstream >= 0 else {
                // The gRPC client sees the connection close and reports UNAVAILABLE.
                ConsoleIO.closeQuietly(client)
                continue
            }
            let relay = Thread {
                try? ConsoleIO.setNonBlocking(client, target: "bridge client")
                try? ConsoleIO.setNonBlocking(upstream, target: "unix socket \(self.abstractName)")
                _ = ConsolePump(a: .init(fd: client, name: "bridge client"),
                                b: .init(fd: upstream, name: self.abstractName)).run()
                ConsoleIO.closeQuietly(client)
                ConsoleIO.closeQuietly(upstream)
            }
            relay.name = "abstract-relay"
            relay.start()
        }
    }
}
