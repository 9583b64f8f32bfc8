#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import LinuxKit

/// Where the agent's gRPC server listens (`agent.server_addr`).
///
/// URI forms: `vsock://CID:PORT` (CID `-1` means `VMADDR_CID_ANY`), `unix:///abs/path`,
/// `unix://@abstract-name`, `serial://PORT-NAME` (a virtio-serial port, e.g. `agent.channel.0`). New transports add a case, a branch in `parse` and one in
/// `description`; callers switch exhaustively so the compiler points at every place to extend.
public enum ServerAddress: Sendable, Equatable, Hashable, CustomStringConvertible {
    /// AF_VSOCK listener; `cid` is `VMADDR_CID_ANY` (0xFFFFFFFF) for `-1`.
    case vsock(cid: UInt32, port: UInt32)
    /// Unix socket bound to a filesystem path.
    case unix(path: String)
    /// Unix socket in the abstract namespace (no filesystem entry; name without the leading NUL).
    case unixAbstract(name: String)
    /// The virtio-serial port with this name (/sys/class/virtio-ports/*/name): for hosts
    /// without vhost-vsock; served by AgentServer's serial transport (console engineer).
    case serial(name: String)

    /// `VMADDR_CID_ANY`, what `-1` stands for in `vsock://-1:PORT`.
    public static let vsockCIDAny: UInt32 = 0xFFFF_FFFF

    /// The upstream default, `vsock://-1:1024`.
    public static let `default` = ServerAddress.vsock(cid: vsockCIDAny, port: 1024)

    /// Parses the URI forms above; errors name the part that is wrong.
    public static func parse(_ uri: String) throws(ServerAddressError) -> ServerAddress {
        let trimmed = uri.trimmingWhitespace()
        // Split on the first ':' and require "//" after it, rather than firstRange(of: "://"),
        // which is _StringProcessing's substring search: 200 KiB of code paged in at every start.
        guard let colon = trimmed.firstIndex(of: ":"), trimmed[colon...].hasPrefix("://") else {
            throw ServerAddressError(uri: uri, part: "scheme", reason: "missing '://' (expected vsock://CID:PORT, unix:///path, unix://@name or serial://PORT-NAME)")
        }
        // ASCII case folding: schemes are ASCII, and lowercased() is one more stdlib page at start.
        let scheme = String(decoding: trimmed.utf8[..<colon].map { (0x41...0x5A).contains($0) ? $0 | 0x20 : $0 }, as: UTF8.self)
        let rest = String(trimmed[colon...].dropFirst(3))
        switch scheme {
        case "vsock":
            return try parseVsock(rest, uri: uri)
        case "unix":
            return try parseUnix(rest, uri: uri)
        case "serial":
            return try parseSerial(rest, uri: uri)
        default:
            throw ServerAddressError(uri: uri, part: "scheme", reason: "unsupported scheme '\(scheme)'")
        }
    }

    private static func parseVsock(_ rest: String, uri: String) throws(ServerAddressError) -> ServerAddress {
        let pieces = rest.split(separator: ":", omittingEmptySubsequences: false)
        guard pieces.count == 2 else {
            throw ServerAddressError(uri: uri, part: "authority", reason: "expected CID:PORT, got '\(rest)'")
        }
        let cidText = String(pieces[0])
        let portText = String(pieces[1])
        let cid: UInt32
        if cidText == "-1" {
            cid = vsockCIDAny
        } else if let value = UInt32(cidText) {
            cid = value
        } else {
            throw ServerAddressError(uri: uri, part: "cid", reason: "'\(cidText)' is not -1 or an unsigned 32-bit integer")
        }
        guard let port = UInt32(portText) else {
            throw ServerAddressError(uri: uri, part: "port", reason: "'\(portText)' is not an unsigned 32-bit integer")
        }
        return .vsock(cid: cid, port: port)
    }

    private static func parseUnix(_ rest: String, uri: String) throws(ServerAddressError) -> ServerAddress {
        if rest.hasPrefix("@") {
            let name = String(rest.dropFirst())
            guard !name.isEmpty else {
                throw ServerAddressError(uri: uri, part: "name", reason: "abstract socket name is empty")
            }
            // sun_path is 108 bytes; the abstract form spends one on the leading NUL.
            guard name.utf8.count <= 106, !name.utf8.contains(0) else {
                throw ServerAddressError(uri: uri, part: "name", reason: "abstract socket name must be 1...106 bytes without NUL")
            }
            return .unixAbstract(name: name)
        }
        guard rest.hasPrefix("/") else {
            throw ServerAddressError(uri: uri, part: "path", reason: "'\(rest)' is not absolute (use unix:///path or unix://@name)")
        }
        guard rest.utf8.count <= 107, !rest.utf8.contains(0) else {
            throw ServerAddressError(uri: uri, part: "path", reason: "socket path must be at most 107 bytes without NUL")
        }
        return .unix(path: rest)
    }

    private static func parseSerial(_ name: String, uri: String) throws(ServerAddressError) -> ServerAddress {
        // A port name is one sysfs attribute value: printable, no path separators.
        let valid = !name.isEmpty && name.utf8.count <= 255
            && name.unicodeScalars.allSatisfy { $0.value > 0x20 && $0.value < 0x7F && $0 != "/" }
        guard valid else {
            throw ServerAddressError(uri: uri, part: "name", reason: "virtio-serial port name must be 1...255 printable characters without '/' or spaces")
        }
        return .serial(name: name)
    }

    /// The URI form that `parse` accepts; `vsock` CID_ANY prints as `-1`.
    public var description: String {
        switch self {
        case let .vsock(cid, port):
            return "vsock://\(cid == Self.vsockCIDAny ? "-1" : String(cid)):\(port)"
        case let .unix(path):
            return "unix://\(path)"
        case let .unixAbstract(name):
            return "unix://@\(name)"
        case let .serial(name):
            return "serial://\(name)"
        }
    }
}

/// A rejected server address: which URI, which part of it, and why.
public struct ServerAddressError: Error, Sendable, Equatable, CustomStringConvertible {
    public let uri: String
    /// The part that failed: "scheme", "authority", "cid", "port", "path" or "name".
    public let part: String
    public let reason: String

    public init(uri: String, part: String, reason: String) {
        self.uri = uri
        self.part = part
        self.reason = reason
    }

    public var description: String { "invalid server address '\(uri)': bad \(part): \(reason)" }
}

