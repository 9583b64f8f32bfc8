import GRPCCore
import NIOHPACK

/// The gRPC-over-HTTP/2 header blocks: request headers to a method and metadata, and the
/// response headers and trailers built from response parts.
package enum GRPCHTTP2Headers {
    /// A request the server answers itself (trailers-only) because its headers are not a gRPC call
    /// it can serve.
    struct Rejection: Error, Equatable {
        var httpStatus: String = "200"
        var code: RPCError.Code
        var message: String
    }

    /// The method a request names and its metadata (every header but the pseudo-headers;
    /// grpc-timeout stays in it so GRPCCore's executor applies the deadline).
    static func request(_ headers: HPACKHeaders) -> Result<(MethodDescriptor, Metadata), Rejection> {
        guard headers.first(name: ":method") == "POST" else {
            return .failure(Rejection(
                httpStatus: "405", code: .unimplemented,
                message: "gRPC requires :method POST, got '\(headers.first(name: ":method") ?? "")'"))
        }
        let contentType = headers.first(name: "content-type") ?? ""
        guard contentType == "application/grpc" || contentType.hasPrefix("application/grpc+")
            || contentType.hasPrefix("application/grpc;")
        else {
            return .failure(Rejection(
                httpStatus: "415", code: .internalError,
                message: "unsupported content-type '\(contentType)' (want application/grpc)"))
        }
        if let encoding = headers.first(name: "grpc-encoding"), encoding != "identity" {
            return .failure(Rejection(
                code: .unimplemented, message: "grpc-encoding '\(encoding)' is not supported (identity only)"))
        }
        let path = headers.first(name: ":path") ?? ""
        guard let descriptor = methodDescriptor(path: path) else {
            return .failure(Rejection(code: .unimplemented, message: "malformed :path '\(path)' (want /service/method)"))
        }
        var metadata = Metadata()
        for (name, value, _) in headers where !name.hasPrefix(":") {
            if name.hasSuffix("-bin") {
                guard let bytes = GRPCHTTP2Base64.decode(value) else {
                    return .failure(Rejection(
                        code: .invalidArgument, message: "metadata '\(name)' is not valid base64"))
                }
                metadata.addBinary(bytes, forKey: name)
            } else {
                metadata.addString(value, forKey: name)
            }
        }
        return .success((descriptor, metadata))
    }

    /// "/package.Service/Method" to its descriptor; nil unless both parts are non-empty.
    static func methodDescriptor(path: String) -> MethodDescriptor? {
        guard path.first == "/" else { return nil }
        let rest = path.dropFirst()
        guard let slash = rest.lastIndex(of: "/") else { return nil }
        let service = rest[rest.startIndex..<slash]
        let method = rest[rest.index(after: slash)...]
        guard !service.isEmpty, !method.isEmpty else { return nil }
        return MethodDescriptor(fullyQualifiedService: String(service), method: String(method))
    }

    /// The response headers that open a successful response.
    static func responseHeaders(_ metadata: Metadata) -> HPACKHeaders {
        var headers: HPACKHeaders = [":status": "200", "content-type": "application/grpc"]
        append(metadata, to: &headers)
        return headers
    }

    /// Trailers ending a response; with `trailersOnly` also the response headers (a response
    /// that carries no message, e.g. an error before any reply).
    static func trailers(
        code: Status.Code, message: String, metadata: Metadata, trailersOnly: Bool, httpStatus: String = "200"
    ) -> HPACKHeaders {
        var headers = HPACKHeaders()
        if trailersOnly {
            headers.add(name: ":status", value: httpStatus)
            headers.add(name: "content-type", value: "application/grpc")
        }
        headers.add(name: "grpc-status", value: String(code.rawValue))
        if !message.isEmpty {
            headers.add(name: "grpc-message", value: percentEncoded(message), indexing: .nonIndexable)
        }
        append(metadata, to: &headers)
        return headers
    }

    /// Metadata as header fields: binary values base64 under a "-bin" key; keys the protocol
    /// reserves (pseudo-headers, grpc-status, grpc-message, content-type) are not the handler's.
    package static func append(_ metadata: Metadata, to headers: inout HPACKHeaders) {
        for (key, value) in metadata {
            let name = key.lowercased()
            if name.hasPrefix(":") || name == "grpc-status" || name == "grpc-message" || name == "content-type" {
                continue
            }
            switch value {
            case .string(let string):
                headers.add(name: name, value: string)
            case .binary(let bytes):
                headers.add(name: name.hasSuffix("-bin") ? name : name + "-bin", value: GRPCHTTP2Base64.encode(bytes))
            }
        }
    }

    /// grpc-message encoding from the gRPC HTTP/2 spec: printable ASCII except '%' stays as is,
    /// every other UTF-8 byte becomes %XX.
    static func percentEncoded(_ message: String) -> String {
        let hex: [UInt8] = Array("0123456789ABCDEF".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(message.utf8.count)
        for byte in message.utf8 {
            if byte >= 0x20, byte <= 0x7E, byte != UInt8(ascii: "%") {
                out.append(byte)
            } else {
                out.append(UInt8(ascii: "%"))
                out.append(hex[Int(byte >> 4)])
                out.append(hex[Int(byte & 0x0F)])
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
