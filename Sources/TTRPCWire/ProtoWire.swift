// Hand-written protobuf wire reading and writing for ttrpc's envelope messages (Request,
// Response, google.rpc.Status, KeyValue, Any). They are a handful of fields on the hot path of
// every call, and decoding them by hand keeps each step bounds-checked against hostile bytes
// with an error naming the field, without a generated dependency for five small messages.

/// A protobuf message that could not be decoded; `field` names where (e.g. "Request.service").
public struct ProtoDecodingError: Error, Sendable, Equatable, CustomStringConvertible {
    public let field: String
    public let reason: String

    public init(field: String, reason: String) {
        self.field = field
        self.reason = reason
    }

    public var description: String { "\(field): \(reason)" }
}

/// Protobuf wire types that may appear in a message.
package enum ProtoWireType: UInt8 {
    case varint = 0, fixed64 = 1, lengthDelimited = 2, startGroup = 3, endGroup = 4, fixed32 = 5
}

/// Reads fields from one serialized message; every length and varint is checked.
struct ProtoReader {
    let bytes: UnsafeRawBufferPointer
    let message: String
    private(set) var index = 0

    init(_ bytes: UnsafeRawBufferPointer, message: String) {
        self.bytes = bytes
        self.message = message
    }

    var isAtEnd: Bool { index >= bytes.count }

    func error(_ field: String, _ reason: String) -> ProtoDecodingError {
        ProtoDecodingError(field: "\(message).\(field)", reason: reason)
    }

    mutating func varint(_ field: String) throws(ProtoDecodingError) -> UInt64 {
        var value: UInt64 = 0
        var shift: UInt64 = 0
        while index < bytes.count {
            let byte = bytes[index]
            index += 1
            // The tenth byte may only carry the top bit of a 64-bit value.
            if shift == 63, byte > 1 { throw error(field, "varint overflows 64 bits") }
            value |= UInt64(byte & 0x7f) << shift
            if byte & 0x80 == 0 { return value }
            shift += 7
            if shift > 63 { throw error(field, "varint longer than 10 bytes") }
        }
        throw error(field, "truncated varint")
    }

    /// The next field's number and wire type, or nil at the end of the message.
    mutating func nextTag() throws(ProtoDecodingError) -> (field: UInt64, type: ProtoWireType)? {
        guard !isAtEnd else { return nil }
        let key = try varint("tag")
        let number = key >> 3
        guard number > 0, number <= 536_870_911 else { throw error("tag", "invalid field number \(number)") }
        guard let type = ProtoWireType(rawValue: UInt8(key & 7)) else {
            throw error("field \(number)", "invalid wire type \(key & 7)")
        }
        return (number, type)
    }

    /// The bounds of a length-delimited field's contents, after which the reader continues.
    mutating func lengthDelimited(_ field: String) throws(ProtoDecodingError) -> Range<Int> {
        let length = try varint(field)
        guard length <= UInt64(bytes.count - index) else {
            throw error(field, "length \(length) runs past the end of the message (\(bytes.count - index) bytes left)")
        }
        let start = index
        index += Int(length)
        return start..<index
    }

    mutating func bytesField(_ field: String) throws(ProtoDecodingError) -> [UInt8] {
        let range = try lengthDelimited(field)
        return Array(UnsafeRawBufferPointer(rebasing: bytes[range]))
    }

    mutating func stringField(_ field: String) throws(ProtoDecodingError) -> String {
        let range = try lengthDelimited(field)
        let raw = UnsafeRawBufferPointer(rebasing: bytes[range])
        // ASCII (every service, method and id a runtime sends) cannot need repair, so the
        // specialised decoding initialiser is exact; String(validating:as:) runs unspecialised
        // generic code with run-time metadata lookups for every string of every request.
        if !raw.contains(where: { $0 >= 0x80 }) {
            return String(decoding: raw, as: UTF8.self)
        }
        guard let text = String(validating: raw, as: UTF8.self) else {
            throw error(field, "string is not valid UTF-8")
        }
        return text
    }

    /// The raw bytes of a length-delimited field, for a nested message.
    mutating func messageField(_ field: String) throws(ProtoDecodingError) -> UnsafeRawBufferPointer {
        let range = try lengthDelimited(field)
        return UnsafeRawBufferPointer(rebasing: bytes[range])
    }

    /// Checks that a known field arrived with the wire type its declaration implies.
    func expect(_ type: ProtoWireType, _ actual: ProtoWireType, _ field: String) throws(ProtoDecodingError) {
        guard type == actual else { throw error(field, "wire type \(actual.rawValue), expected \(type.rawValue)") }
    }

    /// Skips a field this decoder does not know (proto3 keeps parsing past unknown fields).
    mutating func skip(_ type: ProtoWireType, field number: UInt64) throws(ProtoDecodingError) {
        let name = "field \(number)"
        switch type {
        case .varint: _ = try varint(name)
        case .fixed64: try advance(8, name)
        case .fixed32: try advance(4, name)
        case .lengthDelimited: _ = try lengthDelimited(name)
        case .startGroup, .endGroup: throw error(name, "groups are not supported")
        }
    }

    private mutating func advance(_ count: Int, _ field: String) throws(ProtoDecodingError) {
        guard bytes.count - index >= count else { throw error(field, "truncated fixed-width value") }
        index += count
    }
}

/// Where encoded bytes go: a [UInt8] for clients, a NIO ByteBuffer on the server's hot path.
public protocol ProtoSink {
    mutating func appendByte(_ byte: UInt8)
    mutating func appendBytes(_ bytes: UnsafeRawBufferPointer)
}

extension Array: ProtoSink where Element == UInt8 {
    @inlinable public mutating func appendByte(_ byte: UInt8) { append(byte) }
    @inlinable public mutating func appendBytes(_ bytes: UnsafeRawBufferPointer) { append(contentsOf: bytes) }
}

/// Sizes and writes protobuf fields; inlinable so that AgentWire's response encoders specialise
/// it for ByteBuffer rather than call it through ProtoSink's witness table byte by byte.
package enum ProtoWriter {
    @inlinable package static func varintSize(_ value: UInt64) -> Int {
        var size = 1
        var rest = value >> 7
        while rest != 0 {
            size += 1
            rest >>= 7
        }
        return size
    }

    @inlinable package static func writeVarint<S: ProtoSink>(_ value: UInt64, into sink: inout S) {
        var rest = value
        while rest >= 0x80 {
            sink.appendByte(UInt8(truncatingIfNeeded: rest) | 0x80)
            rest >>= 7
        }
        sink.appendByte(UInt8(rest))
    }

    @inlinable package static func tag(_ field: UInt64, _ type: ProtoWireType) -> UInt64 { field << 3 | UInt64(type.rawValue) }

    /// The encoded size of a length-delimited field with `length` bytes of content.
    @inlinable package static func lengthFieldSize(_ field: UInt64, _ length: Int) -> Int {
        varintSize(tag(field, .lengthDelimited)) + varintSize(UInt64(length)) + length
    }

    @inlinable package static func writeLengthHeader<S: ProtoSink>(_ field: UInt64, _ length: Int, into sink: inout S) {
        writeVarint(tag(field, .lengthDelimited), into: &sink)
        writeVarint(UInt64(length), into: &sink)
    }

    @inlinable package static func writeBytes<S: ProtoSink>(_ field: UInt64, _ bytes: [UInt8], into sink: inout S) {
        writeLengthHeader(field, bytes.count, into: &sink)
        bytes.withUnsafeBytes { sink.appendBytes($0) }
    }

    @inlinable package static func writeString<S: ProtoSink>(_ field: UInt64, _ text: String, into sink: inout S) {
        var text = text
        text.withUTF8 { utf8 in
            writeLengthHeader(field, utf8.count, into: &sink)
            sink.appendBytes(UnsafeRawBufferPointer(utf8))
        }
    }

    @inlinable package static func stringFieldSize(_ field: UInt64, _ text: String) -> Int {
        lengthFieldSize(field, text.utf8.count)
    }

    @inlinable package static func writeVarintField<S: ProtoSink>(_ field: UInt64, _ value: UInt64, into sink: inout S) {
        writeVarint(tag(field, .varint), into: &sink)
        writeVarint(value, into: &sink)
    }

    @inlinable package static func varintFieldSize(_ field: UInt64, _ value: UInt64) -> Int {
        varintSize(tag(field, .varint)) + varintSize(value)
    }
}
