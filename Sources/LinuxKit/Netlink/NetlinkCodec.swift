import Glibc

/// A malformed netlink message or attribute (bad length, truncated header): the kernel never
/// sends one, so this means a parsing bug or memory corruption, and is reported rather than read.
func netlinkDecodeError(_ what: String, _ detail: String) -> SyscallError {
    SyscallError("decode netlink", target: what, errno: EBADMSG, detail: detail)
}

/// Reads host-order integers out of a byte slice; every read is bounds-checked.
struct NetlinkBytes {
    let bytes: ArraySlice<UInt8>

    init(_ bytes: ArraySlice<UInt8>) { self.bytes = bytes }

    var count: Int { bytes.count }

    func u8(_ offset: Int) -> UInt8? {
        guard offset >= 0, offset < bytes.count else { return nil }
        return bytes[bytes.startIndex + offset]
    }

    func u16(_ offset: Int) -> UInt16? {
        guard offset >= 0, offset <= bytes.count - 2 else { return nil }
        let start = bytes.startIndex + offset
        return UInt16(hostBytes: bytes[start..<start + 2])
    }

    func u32(_ offset: Int) -> UInt32? {
        guard offset >= 0, offset <= bytes.count - 4 else { return nil }
        let start = bytes.startIndex + offset
        return UInt32(hostBytes: bytes[start..<start + 4])
    }

    func i32(_ offset: Int) -> Int32? { u32(offset).map { Int32(bitPattern: $0) } }

    func slice(_ offset: Int, _ length: Int) -> ArraySlice<UInt8>? {
        guard offset >= 0, length >= 0, offset <= bytes.count, length <= bytes.count - offset else { return nil }
        let start = bytes.startIndex + offset
        return bytes[start..<start + length]
    }
}

extension FixedWidthInteger {
    /// The integer in host byte order from its bytes (netlink is host-endian).
    init(hostBytes raw: ArraySlice<UInt8>) {
        var value = Self.zero
        withUnsafeMutableBytes(of: &value) { target in
            for (index, byte) in raw.prefix(MemoryLayout<Self>.size).enumerated() { target[index] = byte }
        }
        self = value
    }

    /// The integer's bytes in host order.
    var hostBytes: [UInt8] { withUnsafeBytes(of: self) { Array($0) } }
}

/// Netlink rounds every header and attribute to 4 bytes.
@inline(__always) func netlinkAlign(_ length: Int) -> Int { (length + 3) & ~3 }

/// One received netlink message: header fields and the payload after the 16-byte header.
public struct NetlinkMessage: Sendable, Equatable {
    public var type: UInt16
    public var flags: UInt16
    public var sequence: UInt32
    public var portID: UInt32
    public var payload: [UInt8]

    public init(type: UInt16, flags: UInt16, sequence: UInt32, portID: UInt32, payload: [UInt8]) {
        self.type = type
        self.flags = flags
        self.sequence = sequence
        self.portID = portID
        self.payload = payload
    }

    static let headerLength = 16

    /// Splits a received datagram into its messages; a length that overruns the datagram or is
    /// shorter than a header is an error, never an out-of-bounds read.
    public static func split(_ datagram: ArraySlice<UInt8>) throws(SyscallError) -> [NetlinkMessage] {
        var messages: [NetlinkMessage] = []
        var offset = 0
        let reader = NetlinkBytes(datagram)
        while offset < reader.count {
            guard let length32 = reader.u32(offset), let type = reader.u16(offset + 4), let flags = reader.u16(offset + 6),
                let sequence = reader.u32(offset + 8), let portID = reader.u32(offset + 12)
            else {
                throw netlinkDecodeError("message header", "\(reader.count - offset) bytes left at offset \(offset), a header needs 16")
            }
            let length = Int(length32)
            guard length >= headerLength, let body = reader.slice(offset + headerLength, length - headerLength) else {
                throw netlinkDecodeError("message", "length \(length) at offset \(offset) does not fit the \(reader.count)-byte datagram")
            }
            messages.append(NetlinkMessage(type: type, flags: flags, sequence: sequence, portID: portID, payload: Array(body)))
            let next = netlinkAlign(length)
            guard next > 0 else { break }
            offset += next
        }
        return messages
    }

    /// The message as bytes (tests and the fake build replies with it).
    public func encoded() -> [UInt8] {
        var bytes = UInt32(Self.headerLength + payload.count).hostBytes
        bytes += type.hostBytes + flags.hostBytes + sequence.hostBytes + portID.hostBytes + payload
        while bytes.count % 4 != 0 { bytes.append(0) }
        return bytes
    }
}

/// The attributes (TLVs) of a message, by type; nested attributes are parsed again from a value.
public struct NetlinkAttributes: Sendable, Equatable {
    /// Type (flag bits masked off) -> value; a repeated type keeps the last value.
    public private(set) var values: [UInt16: [UInt8]] = [:]

    public init() {}

    /// Parses the attributes in `bytes`; every length is checked against what is left.
    public init(parsing bytes: ArraySlice<UInt8>, in context: String) throws(SyscallError) {
        let reader = NetlinkBytes(bytes)
        var offset = 0
        while offset + 4 <= reader.count {
            guard let length16 = reader.u16(offset), let rawType = reader.u16(offset + 2) else { break }
            let length = Int(length16)
            guard length >= 4, let value = reader.slice(offset + 4, length - 4) else {
                throw netlinkDecodeError(context, "attribute type \(rawType) of length \(length) at offset \(offset) overruns \(reader.count) bytes")
            }
            values[rawType & RTNL.attributeTypeMask] = Array(value)
            offset += netlinkAlign(length)
        }
    }

    public subscript(type: UInt16) -> [UInt8]? { values[type] }

    /// A NUL-terminated string attribute (IFLA_IFNAME, IFLA_INFO_KIND).
    public func string(_ type: UInt16) -> String? {
        guard let value = values[type] else { return nil }
        return String(decoding: value.prefix(while: { $0 != 0 }), as: UTF8.self)
    }

    /// A 32-bit attribute; nil when absent or not exactly 4 bytes.
    public func u32(_ type: UInt16) -> UInt32? {
        guard let value = values[type], value.count == 4 else { return nil }
        return UInt32(hostBytes: value[...])
    }

    /// An IPv4 or IPv6 address attribute; nil when absent or of another length.
    public func address(_ type: UInt16) -> IPAddress? {
        values[type].flatMap { IPAddress(bytes: $0) }
    }
}

/// A request under construction: header, the family's fixed struct, then attributes.
public struct NetlinkRequest: Sendable {
    public private(set) var bytes: [UInt8]
    public let type: UInt16
    /// What the request is about, for errors ("RTM_NEWADDR 10.0.0.2/24 dev eth0").
    public let summary: String
    private var tooLong = false

    public init(type: UInt16, flags: UInt16, summary: String) {
        self.type = type
        self.summary = summary
        bytes = [UInt8](repeating: 0, count: NetlinkMessage.headerLength)
        bytes.replaceSubrange(4..<6, with: type.hostBytes)
        bytes.replaceSubrange(6..<8, with: (flags | RTNL.request).hostBytes)
    }

    /// Appends the fixed family header (ifinfomsg, ifaddrmsg, rtmsg, ndmsg), padded.
    public mutating func appendFixed(_ header: [UInt8]) {
        bytes += header
        pad()
    }

    /// Appends one attribute; a value too long for the 16-bit length is refused at `finish`.
    public mutating func attribute(_ type: UInt16, _ value: [UInt8]) {
        let length = 4 + value.count
        guard length <= Int(UInt16.max) else {
            tooLong = true
            return
        }
        bytes += UInt16(length).hostBytes + type.hostBytes + value
        pad()
    }

    public mutating func attribute(_ type: UInt16, u32 value: UInt32) { attribute(type, value.hostBytes) }

    /// A NUL-terminated string attribute.
    public mutating func attribute(_ type: UInt16, string value: String) { attribute(type, Array(value.utf8) + [0]) }

    /// A nested attribute holding `children` (type, value) pairs.
    public mutating func nested(_ type: UInt16, _ children: [(UInt16, [UInt8])]) {
        var inner: [UInt8] = []
        for (childType, value) in children {
            inner += UInt16(4 + value.count).hostBytes + childType.hostBytes + value
            while inner.count % 4 != 0 { inner.append(0) }
        }
        attribute(type | RTNL.nestedFlag, inner)
    }

    /// The datagram with length and sequence number filled in.
    public func finish(sequence: UInt32) throws(SyscallError) -> [UInt8] {
        guard !tooLong, bytes.count <= Int(UInt32.max) else {
            throw SyscallError("build netlink request", target: summary, errno: EMSGSIZE, detail: "an attribute exceeds 65535 bytes")
        }
        var out = bytes
        out.replaceSubrange(0..<4, with: UInt32(out.count).hostBytes)
        out.replaceSubrange(8..<12, with: sequence.hostBytes)
        return out
    }

    private mutating func pad() {
        while bytes.count % 4 != 0 { bytes.append(0) }
    }
}
