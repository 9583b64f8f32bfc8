#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import NIOCore

/// Which processes a unix-socket listener (path or abstract) serves.
public enum UnixPeerPolicy: Sendable, Equatable {
    /// Anyone who can reach the socket (an agent run as an ordinary process, its tests).
    case any
    /// Only processes in the agent's own mount namespace. As PID 1 in a guest, every process
    /// outside it is a container's: an abstract socket lives in the network namespace the
    /// containers share, so without this any of them could drive the agent.
    case sameMountNamespace
}

/// The peer check of an accepted unix connection, from its SO_PEERCRED.
enum UnixPeerCheck {
    /// struct ucred (pid, uid, gid), which Glibc's module does not import without _GNU_SOURCE.
    struct PeerCredentials: Sendable {
        var pid: Int32 = 0
        var uid: UInt32 = 0
        var gid: UInt32 = 0
    }

    struct Refused: Error, CustomStringConvertible {
        let reason: String
        var description: String { "unix peer refused: \(reason)" }
    }

    /// Why `channel`'s peer may not be served (nil: it may), once SO_PEERCRED is read; a peer
    /// that cannot be identified is refused. Completes on the channel's event loop.
    static func refusal(of channel: any Channel, policy: UnixPeerPolicy) -> EventLoopFuture<String?> {
        guard policy == .sameMountNamespace else { return channel.eventLoop.makeSucceededFuture(nil) }
        guard let provider = channel as? any SocketOptionProvider else {
            return channel.eventLoop.makeSucceededFuture("no socket options on this channel")
        }
        let credentials: EventLoopFuture<PeerCredentials> = provider.unsafeGetSocketOption(
            level: SocketOptionLevel(SOL_SOCKET), name: SocketOptionName(SO_PEERCRED))
        return credentials.map { refusal(peerPID: $0.pid) }.recover { "SO_PEERCRED: \($0)" }
    }

    /// Why the process `peerPID` may not be served under `.sameMountNamespace`, or nil.
    static func refusal(peerPID: pid_t, procRoot: String = "/proc") -> String? {
        guard peerPID > 0 else { return "peer pid \(peerPID) is not in this pid namespace" }
        guard let own = namespace(procRoot + "/self/ns/mnt") else { return "cannot read the agent's mount namespace" }
        guard let peer = namespace(procRoot + "/\(peerPID)/ns/mnt") else {
            return "cannot read the mount namespace of pid \(peerPID) (errno \(errno))"
        }
        return peer == own ? nil : "pid \(peerPID) is in mount namespace \(peer), not the agent's \(own)"
    }

    private static func namespace(_ link: String) -> String? {
        var buffer = [CChar](repeating: 0, count: 128)
        let n = readlink(link, &buffer, buffer.count - 1)
        guard n > 0 else { return nil }
        return String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
