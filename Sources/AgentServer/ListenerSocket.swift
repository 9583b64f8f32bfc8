#if canImport(Glibc)
import Glibc
#endif
import AgentConfig
import GRPCNIOTransportHTTP2Posix

/// Turns the configured ServerAddress into a grpc-swift NIO transport.
///
/// vsock and filesystem unix sockets map onto the transport's own addresses. The transport (via
/// NIO) cannot express an abstract unix address with its exact length (it would bind the name
/// NUL-padded to 108 bytes, which other clients cannot dial), so for `unix://@name` the agent
/// binds the socket itself with the exact sockaddr length and hands the bound descriptor over.
enum ListenerSocket {
    static func transport(for address: ServerAddress) throws -> HTTP2ServerTransport.Posix {
        var config = HTTP2ServerTransport.Posix.Config.defaults
        // The runtime sends large OCI specs and CopyFile chunks; upstream allows messages up to 4 MiB+.
        config.rpc.maxRequestPayloadSize = 16 << 20
        switch address {
        case let .vsock(cid, port):
            return HTTP2ServerTransport.Posix(
                address: .vsock(contextID: .init(rawValue: cid), port: .init(rawValue: port)),
                transportSecurity: .plaintext, config: config)
        case let .unix(path):
            return HTTP2ServerTransport.Posix(
                address: .unixDomainSocket(path: path), transportSecurity: .plaintext, config: config)
        case let .unixAbstract(name):
            let fd = try bindAbstract(name: name)
            return HTTP2ServerTransport.Posix(
                listeningSocketDescriptor: Int(fd), transportSecurity: .plaintext, config: config)
        case let .serial(name):
            // Served on a private socket that ConsoleSerialTransport relays the port to.
            return try ConsoleSerialTransport.transport(portName: name, config: config)
        }
    }

    /// A bound, listening AF_UNIX socket at "\0name" with the exact address length.
    static func bindAbstract(name: String) throws(ListenerError) -> Int32 {
        let nameBytes = Array(name.utf8)
        var address = sockaddr_un()
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard !nameBytes.isEmpty, nameBytes.count + 1 <= capacity, !nameBytes.contains(0) else {
            throw ListenerError(address: "unix://@\(name)", operation: "bind", errno: EINVAL)
        }
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw[0] = 0
            for (index, byte) in nameBytes.enumerated() { raw[index + 1] = byte }
        }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + 1 + nameBytes.count)
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw ListenerError(address: "unix://@\(name)", operation: "socket", errno: errno) }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
        }
        guard bound == 0 else {
            let code = errno
            close(fd)
            throw ListenerError(address: "unix://@\(name)", operation: "bind", errno: code)
        }
        guard listen(fd, 128) == 0 else {
            let code = errno
            close(fd)
            throw ListenerError(address: "unix://@\(name)", operation: "listen", errno: code)
        }
        return fd
    }
}

/// The agent could not open its listening socket.
public struct ListenerError: Error, Sendable, CustomStringConvertible {
    public let address: String
    public let operation: String
    public let errno: Int32

    public var description: String {
        "cannot listen on \(address): \(operation) failed: \(String(cString: strerror(errno))) (errno \(errno))"
    }
}
