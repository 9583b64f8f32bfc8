import AgentConfig
import AgentWire
import LinuxKit
import Logging

/// The agent could not open its listening socket.
public typealias ListenerError = AgentWire.ListenerError

/// Turns the configured ServerAddress into the agent's transport, which serves ttrpc and gRPC
/// on every listener kind: vsock, unix path, unix abstract (bound with its exact length) and
/// a virtio-serial port (each host session relayed over a socketpair, no socket of its own).
enum ListenerSocket {
    static func transport(
        for address: ServerAddress, vsockPeers: VsockPeerPolicy, unixPeers: UnixPeerPolicy,
        unaryMethods: WireUnaryMethods = WireUnaryMethods(), logger: Logger
    ) -> AgentServerTransport {
        AgentServerTransport(
            listener: listener(for: address), logger: logger, vsockPeers: vsockPeers, unixPeers: unixPeers,
            unaryMethods: unaryMethods)
    }

    static func listener(for address: ServerAddress) -> AgentServerTransport.Listener {
        switch address {
        case let .vsock(cid, port): return .vsock(cid: cid, port: port)
        case let .unix(path): return .unix(path: path)
        case let .unixAbstract(name): return .unixAbstract(name: name)
        case let .serial(name): return .serial(name: name)
        }
    }

    /// A bound, listening AF_UNIX socket at "\0name" with the exact address length.
    static func bindAbstract(name: String) throws(ListenerError) -> Int32 {
        try ListenerSockets.bindAbstract(name: name)
    }
}
