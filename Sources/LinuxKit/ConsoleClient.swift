#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The host side of the debug console: where to connect, and a raw terminal bridge.
public enum ConsoleClient {
    /// A debug console address.
    public enum Target: Sendable, Equatable, CustomStringConvertible {
        /// `vsock://CID:PORT`: AF_VSOCK directly.
        case vsock(cid: UInt32, port: UInt32)
        /// `unix:///path` or `unix://@name`: a unix socket serving the console bytes.
        case unix(path: String)
        /// `hvsock:///vmm.sock:PORT`: the VMM's hybrid vsock socket plus `CONNECT PORT`.
        case hybrid(socketPath: String, port: UInt32)

        public var description: String {
            switch self {
            case let .vsock(cid, port): return "vsock://\(Vsock.describe(cid: cid)):\(port)"
            case let .unix(path): return "unix://\(path)"
            case let .hybrid(socketPath, port): return "hvsock://\(socketPath):\(port)"
            }
        }

        /// Parses the forms above; the error says which part is wrong.
        public static func parse(_ text: String) throws(SyscallError) -> Target {
            func bad(_ why: String) -> SyscallError {
                SyscallError("parse console address", target: "'\(text)'", errno: 0, detail: why)
            }
            guard let range = text.firstRange(of: "://") else {
                throw bad("expected vsock://CID:PORT, unix:///path, unix://@name or hvsock:///path:PORT")
            }
            let scheme = text[..<range.lowerBound].lowercased()
            let rest = String(text[range.upperBound...])
            switch scheme {
            case "vsock":
                let parts = rest.split(separator: ":", omittingEmptySubsequences: false)
                guard parts.count == 2, let port = UInt32(parts[1]) else { throw bad("expected vsock://CID:PORT") }
                guard let cid = UInt32(parts[0]), cid != Vsock.cidAny else {
                    throw bad("the CID must name a machine (the guest's CID, or 1 for loopback)")
                }
                return .vsock(cid: cid, port: port)
            case "unix":
                guard rest.hasPrefix("/") || (rest.hasPrefix("@") && rest.count > 1) else {
                    throw bad("expected unix:///absolute/path or unix://@name")
                }
                return .unix(path: rest)
            case "hvsock", "hybrid-vsock":
                guard let colon = rest.lastIndex(of: ":"), let port = UInt32(rest[rest.index(after: colon)...]) else {
                    throw bad("expected hvsock:///path/to/vmm.sock:PORT")
                }
                let path = String(rest[..<colon])
                guard path.hasPrefix("/") else { throw bad("the VMM socket path must be absolute") }
                return .hybrid(socketPath: path, port: port)
            default:
                throw bad("unsupported scheme '\(scheme)'")
            }
        }
    }

    /// Opens a connection to `target` (blocking fd, close-on-exec).
    public static func connect(_ target: Target, timeout: Double = 10) throws(SyscallError) -> Int32 {
        switch target {
        case let .vsock(cid, port): return try Vsock.connect(cid: cid, port: port)
        case let .unix(path): return try UnixSocket.connect(path: path)
        case let .hybrid(socketPath, port): return try VsockHybrid.connect(socketPath: socketPath, port: port, timeout: timeout)
        }
    }

    /// Bridges `input`/`output` (normally stdin/stdout) with `connection` until the remote
    /// side closes. A tty input is put in raw mode (restored afterwards) so keys such as ^C
    /// reach the remote shell; a piped input that ends keeps the session open until the
    /// remote closes it (`echo 'cmd; exit' | ... console`).
    public static func bridge(
        connection: Int32, input: Int32 = 0, output: Int32 = 1, deadline: Double? = nil
    ) -> ConsolePump.Outcome {
        var saved = termios()
        let raw = isatty(input) == 1 && tcgetattr(input, &saved) == 0
        if raw {
            var mode = saved
            cfmakeraw(&mode)
            _ = tcsetattr(input, TCSANOW, &mode)
        }
        defer {
            if raw { _ = tcsetattr(input, TCSANOW, &saved) }
        }
        try? ConsoleIO.setNonBlocking(connection, target: "console connection")
        let pump = ConsolePump(
            a: .init(input: input, output: output, name: "terminal", onEnd: .keepOtherDirection),
            b: .init(fd: connection, name: "console connection"))
        return pump.run(deadline: deadline)
    }
}
