// ttrpc's envelope messages as containerd/ttrpc declares them (request.proto, and
// google.rpc.Status), encoded and decoded by hand (see ProtoWire.swift for why). Both the
// agent's server codec and its clients (kata-agent-ctl, tests) use these.

/// One entry of a request's metadata (`KeyValue{key=1, value=2}`).
public struct TTRPCKeyValue: Sendable, Equatable {
    public var key: String
    public var value: String

    public init(key: String, value: String) {
        self.key = key
        self.value = value
    }
}

/// `google.protobuf.Any{type_url=1, value=2}`, as carried in a status's details.
public struct TTRPCAny: Sendable, Equatable {
    public var typeURL: String
    public var value: [UInt8]

    public init(typeURL: String, value: [UInt8]) {
        self.typeURL = typeURL
        self.value = value
    }
}

/// A ttrpc request: `Request{service=1, method=2, payload=3, timeout_nano=4, metadata=5}`.
public struct TTRPCRequest: Sendable, Equatable {
    public var service: String
    public var method: String
    public var payload: [UInt8]
    /// The caller's deadline as a duration from now; 0 means none.
    public var timeoutNano: Int64
    public var metadata: [TTRPCKeyValue]

    public init(
        service: String, method: String, payload: [UInt8], timeoutNano: Int64 = 0, metadata: [TTRPCKeyValue] = []
    ) {
        self.service = service
        self.method = method
        self.payload = payload
        self.timeoutNano = timeoutNano
        self.metadata = metadata
    }

    public init(decoding bytes: [UInt8]) throws(ProtoDecodingError) {
        let result = bytes.withUnsafeBytes { raw in
            Result { () throws(ProtoDecodingError) in try TTRPCRequest(decoding: raw) }
        }
        self = try result.get()
    }

    public init(decoding bytes: UnsafeRawBufferPointer) throws(ProtoDecodingError) {
        var reader = ProtoReader(bytes, message: "Request")
        self.init(service: "", method: "", payload: [])
        while let (field, type) = try reader.nextTag() {
            switch field {
            case 1:
                try reader.expect(.lengthDelimited, type, "service")
                service = try reader.stringField("service")
            case 2:
                try reader.expect(.lengthDelimited, type, "method")
                method = try reader.stringField("method")
            case 3:
                try reader.expect(.lengthDelimited, type, "payload")
                payload = try reader.bytesField("payload")
            case 4:
                try reader.expect(.varint, type, "timeout_nano")
                timeoutNano = Int64(bitPattern: try reader.varint("timeout_nano"))
            case 5:
                try reader.expect(.lengthDelimited, type, "metadata")
                metadata.append(try TTRPCKeyValue(decoding: try reader.messageField("metadata")))
            default:
                try reader.skip(type, field: field)
            }
        }
    }

    /// The encoded message, as containerd/ttrpc's client sends it (default values omitted).
    public func encoded() -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(encodedSize)
        encode(into: &bytes)
        return bytes
    }

    public var encodedSize: Int {
        var size = 0
        if !service.isEmpty { size += ProtoWriter.stringFieldSize(1, service) }
        if !method.isEmpty { size += ProtoWriter.stringFieldSize(2, method) }
        if !payload.isEmpty { size += ProtoWriter.lengthFieldSize(3, payload.count) }
        if timeoutNano != 0 { size += ProtoWriter.varintFieldSize(4, UInt64(bitPattern: timeoutNano)) }
        for entry in metadata { size += ProtoWriter.lengthFieldSize(5, entry.encodedSize) }
        return size
    }

    public func encode<S: ProtoSink>(into sink: inout S) {
        if !service.isEmpty { ProtoWriter.writeString(1, service, into: &sink) }
        if !method.isEmpty { ProtoWriter.writeString(2, method, into: &sink) }
        if !payload.isEmpty { ProtoWriter.writeBytes(3, payload, into: &sink) }
        if timeoutNano != 0 { ProtoWriter.writeVarintField(4, UInt64(bitPattern: timeoutNano), into: &sink) }
        for entry in metadata {
            ProtoWriter.writeLengthHeader(5, entry.encodedSize, into: &sink)
            entry.encode(into: &sink)
        }
    }
}

extension TTRPCKeyValue {
    init(decoding bytes: UnsafeRawBufferPointer) throws(ProtoDecodingError) {
        var reader = ProtoReader(bytes, message: "KeyValue")
        self.init(key: "", value: "")
        while let (field, type) = try reader.nextTag() {
            switch field {
            case 1:
                try reader.expect(.lengthDelimited, type, "key")
                key = try reader.stringField("key")
            case 2:
                try reader.expect(.lengthDelimited, type, "value")
                value = try reader.stringField("value")
            default:
                try reader.skip(type, field: field)
            }
        }
    }

    var encodedSize: Int {
        (key.isEmpty ? 0 : ProtoWriter.stringFieldSize(1, key)) + (value.isEmpty ? 0 : ProtoWriter.stringFieldSize(2, value))
    }

    func encode<S: ProtoSink>(into sink: inout S) {
        if !key.isEmpty { ProtoWriter.writeString(1, key, into: &sink) }
        if !value.isEmpty { ProtoWriter.writeString(2, value, into: &sink) }
    }
}

extension TTRPCAny {
    init(decoding bytes: UnsafeRawBufferPointer) throws(ProtoDecodingError) {
        var reader = ProtoReader(bytes, message: "Any")
        self.init(typeURL: "", value: [])
        while let (field, type) = try reader.nextTag() {
            switch field {
            case 1:
                try reader.expect(.lengthDelimited, type, "type_url")
                typeURL = try reader.stringField("type_url")
            case 2:
                try reader.expect(.lengthDelimited, type, "value")
                value = try reader.bytesField("value")
            default:
                try reader.skip(type, field: field)
            }
        }
    }

    var encodedSize: Int {
        (typeURL.isEmpty ? 0 : ProtoWriter.stringFieldSize(1, typeURL))
            + (value.isEmpty ? 0 : ProtoWriter.lengthFieldSize(2, value.count))
    }

    func encode<S: ProtoSink>(into sink: inout S) {
        if !typeURL.isEmpty { ProtoWriter.writeString(1, typeURL, into: &sink) }
        if !value.isEmpty { ProtoWriter.writeBytes(2, value, into: &sink) }
    }
}

/// `google.rpc.Status{code=1, message=2, details=3}`: a call's outcome (code 0 is OK).
public struct TTRPCStatus: Sendable, Equatable {
    /// A gRPC status code (google.golang.org/grpc/codes numbering).
    public var code: Int32
    public var message: String
    public var details: [TTRPCAny]

    public init(code: Int32, message: String = "", details: [TTRPCAny] = []) {
        self.code = code
        self.message = message
        self.details = details
    }

    public static let ok = TTRPCStatus(code: 0)

    init(decoding bytes: UnsafeRawBufferPointer) throws(ProtoDecodingError) {
        var reader = ProtoReader(bytes, message: "Status")
        self.init(code: 0)
        while let (field, type) = try reader.nextTag() {
            switch field {
            case 1:
                try reader.expect(.varint, type, "code")
                code = Int32(truncatingIfNeeded: try reader.varint("code"))
            case 2:
                try reader.expect(.lengthDelimited, type, "message")
                message = try reader.stringField("message")
            case 3:
                try reader.expect(.lengthDelimited, type, "details")
                details.append(try TTRPCAny(decoding: try reader.messageField("details")))
            default:
                try reader.skip(type, field: field)
            }
        }
    }

    var encodedSize: Int {
        var size = 0
        // int32 is sign-extended to 64 bits on the wire.
        if code != 0 { size += ProtoWriter.varintFieldSize(1, UInt64(bitPattern: Int64(code))) }
        if !message.isEmpty { size += ProtoWriter.stringFieldSize(2, message) }
        for detail in details { size += ProtoWriter.lengthFieldSize(3, detail.encodedSize) }
        return size
    }

    func encode<S: ProtoSink>(into sink: inout S) {
        if code != 0 { ProtoWriter.writeVarintField(1, UInt64(bitPattern: Int64(code)), into: &sink) }
        if !message.isEmpty { ProtoWriter.writeString(2, message, into: &sink) }
        for detail in details {
            ProtoWriter.writeLengthHeader(3, detail.encodedSize, into: &sink)
            detail.encode(into: &sink)
        }
    }
}

/// A ttrpc response: `Response{status=1, payload=2}`.
public struct TTRPCResponse: Sendable, Equatable {
    public var status: TTRPCStatus
    public var payload: [UInt8]

    public init(status: TTRPCStatus = .ok, payload: [UInt8] = []) {
        self.status = status
        self.payload = payload
    }

    public init(decoding bytes: [UInt8]) throws(ProtoDecodingError) {
        let result = bytes.withUnsafeBytes { raw in
            Result { () throws(ProtoDecodingError) in try TTRPCResponse(decoding: raw) }
        }
        self = try result.get()
    }

    public init(decoding bytes: UnsafeRawBufferPointer) throws(ProtoDecodingError) {
        var reader = ProtoReader(bytes, message: "Response")
        self.init()
        while let (field, type) = try reader.nextTag() {
            switch field {
            case 1:
                try reader.expect(.lengthDelimited, type, "status")
                status = try TTRPCStatus(decoding: try reader.messageField("status"))
            case 2:
                try reader.expect(.lengthDelimited, type, "payload")
                payload = try reader.bytesField("payload")
            default:
                try reader.skip(type, field: field)
            }
        }
    }

    public func encoded() -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(encodedSize)
        encode(into: &bytes)
        return bytes
    }

    /// The status is always present, even when OK, as the Go server sends it.
    public var encodedSize: Int {
        ProtoWriter.lengthFieldSize(1, status.encodedSize)
            + (payload.isEmpty ? 0 : ProtoWriter.lengthFieldSize(2, payload.count))
    }

    public func encode<S: ProtoSink>(into sink: inout S) {
        ProtoWriter.writeLengthHeader(1, status.encodedSize, into: &sink)
        status.encode(into: &sink)
        if !payload.isEmpty { ProtoWriter.writeBytes(2, payload, into: &sink) }
    }
}
