#if canImport(Glibc)
import Glibc
#endif
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import LinuxKit
import Synchronization

/// Reaches an address the gRPC transport cannot dial through a private filesystem socket:
/// an abstract unix socket (`unix://@name`) or hybrid vsock (`hvsock://`, a VMM's unix socket
/// plus a `CONNECT port` line).
///
/// The gRPC transport (through NIO) can only dial an abstract name NUL-padded to the full
/// sun_path, which is a different address from the exact-length name the agent binds, and knows
/// nothing of hybrid vsock. So the client dials a socket in a fresh 0700 directory and each
/// accepted connection is relayed to a connection `dial` opens. The first upstream connection
/// is opened up front so an absent agent is reported plainly ("Connection refused") rather than
/// as a gRPC failure. (The ttrpc client dials these itself and needs no bridge.)
final class AbstractSocketBridge: Sendable {
    /// The filesystem socket the gRPC client dials.
    let path: String
    private let directory: String
    private let listener: ConsoleListener
    private let upstreamName: String
    private let dial: @Sendable () throws -> Int32
    /// The pre-connected upstream fd handed to the first accepted connection (-1 once taken).
    private let firstUpstream: Mutex<Int32>

    /// `dial` opens one upstream connection (blocking); `upstreamName` names it in messages.
    init(upstreamName: String, dial: @escaping @Sendable () throws -> Int32) throws {
        self.upstreamName = upstreamName
        self.dial = dial
        let upstream = try dial()
        firstUpstream = Mutex(upstream)
        var template = Array("/tmp/kata-agent-ctl.XXXXXX".utf8CString)
        guard let created = template.withUnsafeMutableBufferPointer({ buffer in
            buffer.baseAddress.flatMap { mkdtemp($0) }
        }) else {
            let code = errno
            ConsoleIO.closeQuietly(upstream)
            throw SyscallError("create a private directory", target: "/tmp/kata-agent-ctl.*", errno: code)
        }
        directory = String(cString: created)
        path = directory + "/bridge.sock"
        do {
            listener = try ConsoleListener.unix(path: path)
        } catch {
            ConsoleIO.closeQuietly(upstream)
            rmdir(directory)
            throw error
        }
        BackgroundThread.start(name: "abstract-bridge") { [self] in acceptLoop() }
    }

    /// Stops accepting and removes the private socket; relays in flight end with their peers.
    func stop() {
        listener.stop()
        unlink(path)
        rmdir(directory)
        firstUpstream.withLock { fd in
            ConsoleIO.closeQuietly(fd)
            fd = -1
        }
    }

    private func acceptLoop() {
        while let client = try? listener.accept() {
            let pending = firstUpstream.withLock { fd in
                defer { fd = -1 }
                return fd
            }
            let upstream = pending >= 0 ? pending : ((try? dial()) ?? -1)
            guard upstream >= 0 else {
                // The gRPC client sees the connection close and reports UNAVAILABLE.
                ConsoleIO.closeQuietly(client)
                continue
            }
            BackgroundThread.start(name: "abstract-relay") {
                try? ConsoleIO.setNonBlocking(client, target: "bridge client")
                try? ConsoleIO.setNonBlocking(upstream, target: self.upstreamName)
                _ = ConsolePump(a: .init(fd: client, name: "bridge client"),
                                b: .init(fd: upstream, name: self.upstreamName)).run()
                ConsoleIO.closeQuietly(client)
                ConsoleIO.closeQuietly(upstream)
            }
        }
    }
}
