#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The agent could not open its listening socket.
public struct ListenerError: Error, Sendable, CustomStringConvertible {
    public let address: String
    public let operation: String
    public let errno: Int32

    public init(address: String, operation: String, errno: Int32) {
        self.address = address
        self.operation = operation
        self.errno = errno
    }

    public var description: String {
        "cannot listen on \(address): \(operation) failed: \(String(cString: strerror(errno))) (errno \(errno))"
    }
}

/// Listening sockets NIO cannot open itself.
public enum ListenerSockets {
    /// A bound, listening AF_UNIX socket at "\0name" with the exact address length. NIO would
    /// bind the name NUL-padded to 108 bytes, which other clients cannot dial, so the agent
    /// binds it and hands the descriptor to NIO.
    public static func bindAbstract(name: String) throws(ListenerError) -> Int32 {
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
