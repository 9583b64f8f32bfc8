import AgentWire
import GRPCCore
import NIOHPACK

/// The header blocks of a gRPC call seen from the client: the request headers, and what the
/// response headers and trailers say (metadata, or the call's status).
enum GRPCClientHeaders {
    /// Request headers for `descriptor`: POST over cleartext HTTP/2, identity encoding only, the
    /// deadline as grpc-timeout (the server cancels the handler when it passes).
    static func request(
        _ descriptor: MethodDescriptor, authority: String, timeout: Duration?, metadata: Metadata
    ) -> HPACKHeaders {
        var headers: HPACKHeaders = [
            ":method": "POST", ":scheme": "http", ":path": "/\(descriptor.fullyQualifiedMethod)",
            ":authority": authority, "content-type": "application/grpc", "te": "trailers",
        ]
        if let timeout { headers.add(name: "grpc-timeout", value: encodedTimeout(timeout)) }
        var metadata = metadata
        metadata.removeAllValues(forKey: "grpc-timeout")
        GRPCHTTP2Headers.append(metadata, to: &headers)
        return headers
    }

    /// grpc-timeout: at most 8 digits and a unit, the finest unit the value fits in (rounded
    /// up, so the server's deadline is never earlier than the client's).
    static func encodedTimeout(_ timeout: Duration) -> String {
        let (seconds, attoseconds) = timeout.components
        guard seconds >= 0, attoseconds >= 0 else { return "0n" }
        // Nanoseconds, saturated: Int64.max ns is 292 years, more than any unit below can say.
        let (whole, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        let (total, overflow2) = whole.addingReportingOverflow(attoseconds / 1_000_000_000)
        let nanoseconds = overflow || overflow2 ? Int64.max : total
        let units: [(Int64, Character)] = [
            (1, "n"), (1_000, "u"), (1_000_000, "m"), (1_000_000_000, "S"), (60_000_000_000, "M"), (3_600_000_000_000, "H"),
        ]
        for (scale, unit) in units {
            let (quotient, remainder) = nanoseconds.quotientAndRemainder(dividingBy: scale)
            let value = remainder == 0 ? quotient : quotient + 1
            if value <= 99_999_999 { return "\(value)\(unit)" }
        }
        return "99999999H"
    }

    /// What the first header block of a response means.
    enum Response: Equatable {
        /// Response headers: messages follow.
        case headers(Metadata)
        /// The call ended here (trailers-only, or a response that is not gRPC).
        case status(Status, Metadata)
    }

    /// The first header block; `endStream` when it also ends the stream (trailers-only).
    static func response(_ headers: HPACKHeaders, endStream: Bool) -> Response {
        let http = headers.first(name: ":status") ?? ""
        guard http == "200" else {
            // Not a gRPC answer: the status follows from the HTTP one (the gRPC HTTP/2 spec's table),
            // unless the server also said grpc-status.
            if headers.first(name: "grpc-status") != nil { return .status(status(headers), metadata(headers)) }
            return .status(Status(code: codeForHTTPStatus(http), message: "HTTP status \(http) from the agent"), [:])
        }
        if endStream { return .status(status(headers), metadata(headers)) }
        let contentType = headers.first(name: "content-type") ?? ""
        guard contentType == "application/grpc" || contentType.hasPrefix("application/grpc+")
            || contentType.hasPrefix("application/grpc;")
        else {
            return .status(Status(code: .internalError, message: "response content-type '\(contentType)' is not gRPC"), [:])
        }
        if let encoding = headers.first(name: "grpc-encoding"), encoding != "identity" {
            return .status(Status(code: .internalError, message: "response grpc-encoding '\(encoding)' was not offered"), [:])
        }
        return .headers(metadata(headers))
    }

    /// The trailers' status and metadata.
    static func trailers(_ headers: HPACKHeaders) -> (Status, Metadata) {
        (status(headers), metadata(headers))
    }

    static func status(_ headers: HPACKHeaders) -> Status {
        guard let text = headers.first(name: "grpc-status") else {
            return Status(code: .unknown, message: "the response has no grpc-status")
        }
        guard let raw = Int(text), let code = Status.Code(rawValue: raw) else {
            return Status(code: .unknown, message: "invalid grpc-status '\(text)'")
        }
        return Status(code: code, message: percentDecoded(headers.first(name: "grpc-message") ?? ""))
    }

    /// Every field but the pseudo-headers and those of the protocol; "-bin" values decoded
    /// (an invalid one is dropped: it is the server's metadata, not the call's outcome).
    static func metadata(_ headers: HPACKHeaders) -> Metadata {
        var metadata = Metadata()
        for (name, value, _) in headers where !name.hasPrefix(":") {
            switch name {
            case "grpc-status", "grpc-message", "content-type", "grpc-encoding", "grpc-accept-encoding":
                continue
            default:
                if name.hasSuffix("-bin") {
                    if let bytes = GRPCHTTP2Base64.decode(value) { metadata.addBinary(bytes, forKey: name) }
                } else {
                    metadata.addString(value, forKey: name)
                }
            }
        }
        return metadata
    }

    /// grpc-message's %XX escapes undone; a malformed escape stays as it is.
    static func percentDecoded(_ text: String) -> String {
        let bytes = Array(text.utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var index = 0
        while index < bytes.count {
            if bytes[index] == UInt8(ascii: "%"), index + 2 < bytes.count,
               let high = hexValue(bytes[index + 1]), let low = hexValue(bytes[index + 2]) {
                out.append(high << 4 | low)
                index += 3
            } else {
                out.append(bytes[index])
                index += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
        default: return nil
        }
    }

    /// The gRPC HTTP/2 spec's mapping of HTTP statuses to codes, for responses without grpc-status.
    static func codeForHTTPStatus(_ status: String) -> Status.Code {
        switch status {
        case "400": return .internalError
        case "401": return .unauthenticated
        case "403": return .permissionDenied
        case "404": return .unimplemented
        case "429", "502", "503", "504": return .unavailable
        default: return .unknown
        }
    }
}
