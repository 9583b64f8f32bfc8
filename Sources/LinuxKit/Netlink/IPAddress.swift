import Glibc

/// An address family of the routing tables (AF_INET, AF_INET6).
public enum AddressFamily: UInt8, Sendable, Hashable, CaseIterable {
    case inet = 2
    case inet6 = 10

    /// Address length in bytes.
    public var addressLength: Int { self == .inet ? 4 : 16 }
    /// Largest prefix length.
    public var maximumPrefix: UInt8 { self == .inet ? 32 : 128 }
}

/// An IPv4 or IPv6 address as bytes, parsed and printed with inet_pton/inet_ntop.
public struct IPAddress: Sendable, Hashable, CustomStringConvertible {
    public let family: AddressFamily
    public let bytes: [UInt8]

    /// From 4 or 16 bytes; nil for any other length.
    public init?(bytes: [UInt8]) {
        switch bytes.count {
        case 4: family = .inet
        case 16: family = .inet6
        default: return nil
        }
        self.bytes = bytes
    }

    /// From text: dotted quad or an IPv6 form inet_pton accepts; nil otherwise (no zone, no prefix).
    public init?(_ text: String) {
        guard !text.isEmpty, text.utf8.count < 64, !text.utf8.contains(0) else { return nil }
        let family: AddressFamily = text.contains(":") ? .inet6 : .inet
        var buffer = [UInt8](repeating: 0, count: 16)
        let rc = buffer.withUnsafeMutableBytes { inet_pton(Int32(family.rawValue), text, $0.baseAddress) }
        guard rc == 1 else { return nil }
        self.family = family
        bytes = Array(buffer.prefix(family.addressLength))
    }

    /// The all-zero address of a family (0.0.0.0, ::).
    public static func unspecified(_ family: AddressFamily) -> IPAddress {
        IPAddress(uncheckedBytes: [UInt8](repeating: 0, count: family.addressLength), family: family)
    }

    private init(uncheckedBytes: [UInt8], family: AddressFamily) {
        self.family = family
        bytes = uncheckedBytes
    }

    public var description: String {
        var text = [CChar](repeating: 0, count: 64)
        let ok = bytes.withUnsafeBytes { raw in
            inet_ntop(Int32(family.rawValue), raw.baseAddress, &text, socklen_t(text.count)) != nil
        }
        guard ok else { return bytes.map(String.init).joined(separator: ".") }
        return String(decoding: text.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

/// A link-layer (MAC) address as bytes, written "aa:bb:cc:dd:ee:ff".
public struct HardwareAddress: Sendable, Hashable, CustomStringConvertible {
    public let bytes: [UInt8]

    public init(bytes: [UInt8]) { self.bytes = bytes }

    /// Colon-separated pairs of hex digits, 1...32 octets (Ethernet has 6, InfiniBand 20);
    /// either case. Anything else is nil.
    public init?(_ text: String) {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard (1...32).contains(parts.count) else { return nil }
        var bytes: [UInt8] = []
        for part in parts {
            guard part.utf8.count == 2, part.utf8.allSatisfy(Self.isHexDigit), let byte = UInt8(part, radix: 16) else { return nil }
            bytes.append(byte)
        }
        self.bytes = bytes
    }

    /// Whether `byte` is 0-9, a-f or A-F.
    public static func isHexDigit(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(byte)
            || (UInt8(ascii: "A")...UInt8(ascii: "F")).contains(byte)
    }

    /// Lower-case, as iproute2 prints it.
    public var description: String {
        bytes.map { byte in
            let hex = String(byte, radix: 16)
            return byte < 16 ? "0" + hex : hex
        }.joined(separator: ":")
    }
}
